"""The simulator's "Bands applied" table: which band of each banded reward applied on the
simulated receipt, what its bands measured and the value it gave with (promotions.engine.bands),
with the numbers as the rest of the simulator shows them (the locale's separators, never in
scientific notation: ``processing.simulator_text``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from processing.simulator_text import money_shown, number_shown
from promotions.engine import RulesSnapshot
from promotions.engine.bands import QUANTITY, BandHit
from promotions.models import Reward


@dataclass(frozen=True)
class SimulatedBand:
    """Which band of a banded reward applied: what it measured, the band and its value."""

    promotion: str
    basis: str  # what the bands measure, in words
    measure: str  # as shown: "579.80" ("579,80" on a Russian page), "2", "1.5"
    band: str  # "band 2 of 3: from 100.00 to below 500.00"
    value: str  # "7 %", "50 points", "25.00"


def band_rows(snapshot: RulesSnapshot, hits: list[BandHit]) -> list[SimulatedBand]:
    """The bands the banded rewards of a simulated receipt applied with, in words."""
    promotions = {p.id: p for p in snapshot.promotions}
    bases = dict(Reward.BandBasis.choices)
    rows = []
    for hit in hits:
        promotion = promotions.get(hit.promotion_id)
        reward = (
            next((r for r in promotion.rewards if r.id == hit.reward_id), None)
            if promotion
            else None
        )
        if promotion is None or reward is None:
            continue
        lower = measure_shown(hit.basis, hit.lower)
        where = (
            _("from %(lower)s to below %(upper)s")
            % {"lower": lower, "upper": measure_shown(hit.basis, hit.upper)}
            if hit.upper is not None
            else _("from %(lower)s") % {"lower": lower}
        )
        rows.append(
            SimulatedBand(
                promotion=promotion.name,
                basis=str(bases.get(hit.basis, hit.basis)),
                measure=measure_shown(hit.basis, hit.measure),
                band=_("band %(number)s of %(count)s: %(where)s")
                % {"number": hit.index + 1, "count": len(reward.bands), "where": where},
                value=band_value_shown(reward.kind, hit.value),
            )
        )
    return rows


def measure_shown(basis: str, value: Decimal) -> str:
    """What bands measure as shown: units as the receipt states them (2, 1.5), money with
    two decimals."""
    if basis == QUANTITY:
        return number_shown(value)
    return money_shown(value)


def band_value_shown(kind: str, value: Decimal) -> str:
    if kind.endswith("_percent"):
        return f"{number_shown(value)} %"
    if kind.startswith("points_"):
        return _("%(points)s points") % {"points": number_shown(value)}
    return money_shown(value)
