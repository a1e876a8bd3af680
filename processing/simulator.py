"""The receipt simulator of the admin: a test receipt through the same code as ``calculate``.

A marketer picks a terminal (hence a store and its clock), a moment, a customer (a card, or a
described customer: their tier) and lines, optionally with draft promotions to try; the
answer is exactly what ``calculate`` would return, plus the engine's reasons for every
promotion that gave nothing. Nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.models import Product, Receipt, Terminal
from processing.api.answers import purchase_answer
from processing.calculate import purchase_preview
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.engine import CustomerFacts, EngineResult, RulesSnapshot
from promotions.engine.bands import QUANTITY, BandHit
from promotions.models import Reward
from promotions.rules.snapshot import snapshot_compile, snapshot_get

REASONS = {
    "other_partner": gettext_lazy("another partner's promotion"),
    "not_active": gettext_lazy("not active (paused or finished)"),
    "outside_period": gettext_lazy("outside its period"),
    "other_store": gettext_lazy("not for this store"),
    "other_terminal": gettext_lazy("not for this terminal"),
    "other_channel": gettext_lazy("not for this sales channel"),
    "other_weekday": gettext_lazy("not on this day of the week"),
    "outside_hours": gettext_lazy("outside its hours"),
    "audience": gettext_lazy("not for this customer (tier)"),
    "conditions_not_met": gettext_lazy("its conditions do not hold"),
    "nothing_to_give": gettext_lazy("nothing to give on this receipt"),
    "lost_in_group_first": gettext_lazy(
        "its lines went to a higher-priority promotion of its group"
    ),
    "blocked_by_exclusive": gettext_lazy("an exclusive promotion took its lines"),
    "anonymous_customer": gettext_lazy("points need a customer"),
    "audience_segment": gettext_lazy("not for this customer (segments)"),
    "audience_card": gettext_lazy("not for this card (series or type)"),
    "audience_new": gettext_lazy("for new customers only"),
    "audience_referred": gettext_lazy("for referred customers only"),
    "outside_dates": gettext_lazy("not on the days around the customer's date"),
    "budget_spent": gettext_lazy("its budget is spent"),
    "limit_per_receipt": gettext_lazy("it gave its most for one receipt"),
    "limit_per_customer": gettext_lazy("the customer had it as many times as allowed"),
    "limit_per_customer_day": gettext_lazy("the customer had it as many times today as allowed"),
    "limit_per_day": gettext_lazy("it rewarded as many receipts today as allowed"),
    "limit_needs_customer": gettext_lazy("its limits per customer need a known customer"),
    "no_favourites": gettext_lazy("none of its lines is one of the customer's favourite products"),
    "favourites_anonymous": gettext_lazy("favourite products need a known customer"),
    "exchange_not_asked": gettext_lazy("an exchange: applies only when the register asks for it"),
    "not_enough_chips": gettext_lazy("the customer has not enough points to pay its price"),
    "below_bands": gettext_lazy("below the first of its bands"),
}


@dataclass
class Simulation:
    answer: dict  # what calculate returns
    result: EngineResult
    blocked: list[tuple[int, str, str]]  # promotion id, name, why
    lines: list[dict]  # per line: the request's sku, quantity, price and the answer's numbers
    bands: list[SimulatedBand] = field(default_factory=list)  # the bands banded rewards gave with


@dataclass(frozen=True)
class SimulatedBand:
    """Which band of a banded reward applied: what it measured, the band and its value."""

    promotion: str
    basis: str  # what the bands measure, in words
    measure: Decimal
    band: str  # "2 of 3: from 100.00 to 500.00"
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
        places = 3 if hit.basis == QUANTITY else 2
        lower = _number(hit.lower, places)
        where = (
            _("from %(lower)s to below %(upper)s")
            % {"lower": lower, "upper": _number(hit.upper, places)}
            if hit.upper is not None
            else _("from %(lower)s") % {"lower": lower}
        )
        rows.append(
            SimulatedBand(
                promotion=promotion.name,
                basis=str(bases.get(hit.basis, hit.basis)),
                measure=_number(hit.measure, places),
                band=_("band %(number)s of %(count)s: %(where)s")
                % {"number": hit.index + 1, "count": len(reward.bands), "where": where},
                value=_band_value(reward.kind, hit.value),
            )
        )
    return rows


def _number(value, places: int):
    if places == 3:  # units: as the receipt states them (2, 1.5)
        return value.quantize(Decimal(1)) if value == value.to_integral() else value
    return value.quantize(Decimal("0.01"))


def _band_value(kind: str, value: Decimal) -> str:
    shown = format(value.normalize(), "f")
    if kind.endswith("_percent"):
        return f"{shown} %"
    if kind.startswith("points_"):
        return _("%(points)s points") % {"points": shown}
    return str(value.quantize(Decimal("0.01")))


def parse_lines(text: str) -> list[PurchaseLine]:
    """Lines typed as ``SKU quantity price``, one per line (``#`` starts a comment)."""
    lines: list[PurchaseLine] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        raw = raw.split("#", 1)[0].strip()
        if not raw:
            continue
        parts = raw.split()
        if len(parts) != 3:
            errors.append(
                _("Line %(number)s: write SKU, quantity and price, e.g. “A-1 2 89.90”.")
                % {"number": number}
            )
            continue
        try:
            quantity, price = Decimal(parts[1]), Decimal(parts[2])
        except InvalidOperation:
            errors.append(
                _("Line %(number)s: the quantity and the price must be numbers.")
                % {"number": number}
            )
            continue
        if quantity <= 0 or price < 0:
            errors.append(
                _("Line %(number)s: the quantity must be above 0 and the price not negative.")
                % {"number": number}
            )
            continue
        lines.append(
            PurchaseLine(len(lines) + 1, parts[0], quantity, price.quantize(Decimal("0.01")))
        )
    if errors:
        raise ValidationError(errors)
    if not lines:
        raise ValidationError(_("Give at least one line."))
    return lines


def parse_favourites(text: str, terminal: Terminal) -> list[int]:
    """The ids of the products whose SKUs are typed (separated by spaces or commas), as the
    terminal's partner sells them: its own product of a SKU, else the shared catalogue's."""
    skus = list(dict.fromkeys(text.replace(",", " ").split()))
    if not skus:
        return []
    found: dict[str, int] = {}
    for sku, pk, partner_id in (
        Product.objects.filter(sku__in=skus)
        .filter(Q(partner__isnull=True) | Q(partner_id=terminal.store.partner_id))
        .values_list("sku", "pk", "partner_id")
    ):
        if sku not in found or partner_id is not None:
            found[sku] = pk
    unknown = [sku for sku in skus if sku not in found]
    if unknown:
        raise ValidationError(
            _("No product of the catalogue has the SKU %(skus)s.")
            % {"skus": ", ".join(f"“{sku}”" for sku in unknown)}
        )
    return [found[sku] for sku in skus]


def receipt_lines_text(receipt: Receipt) -> str:
    """A past receipt's lines in the simulator's notation."""
    return "\n".join(
        f"{line.sku} {line.quantity.normalize()} {line.price}"
        for line in receipt.lines.order_by("line_no")
    )


def simulate(
    *,
    terminal: Terminal,
    lines: list[PurchaseLine],
    sold_at: datetime | None = None,
    card: str | None = None,
    tier_id: int | None = None,
    birth_date: date | None = None,
    segment_ids: Sequence[int] = (),
    favourite_product_ids: Sequence[int] = (),
    spend_points: Decimal | str | None = None,
    exchanges: tuple[str, ...] = (),
    drafts: Sequence[int] = (),
) -> Simulation:
    """What ``calculate`` would answer, and why each promotion that gave nothing did not.

    With a ``card``, the customer is the card's holder, with everything the registers know
    of them (their favourite products too); without one, a customer described by ``tier_id``,
    ``birth_date``, ``segment_ids`` and ``favourite_product_ids``."""
    request = PurchaseRequest(
        receipt_id=f"simulator-{uuid.uuid4().hex[:12]}",
        lines=tuple(lines),
        sold_at=sold_at,
        card=card or None,
        spend_points=spend_points,
        exchanges=tuple(exchanges),
    )
    snapshot = snapshot_compile("simulator", drafts) if drafts else snapshot_get()
    described = (
        None
        if card
        else CustomerFacts(
            id=0,
            tier_id=tier_id,
            birth_date=birth_date,
            segment_ids=frozenset(segment_ids),
            favourite_product_ids=frozenset(favourite_product_ids),
            registered_at=sold_at or timezone.now(),
        )
    )
    outcome, result = purchase_preview(terminal, request, snapshot=snapshot, customer=described)
    answer = purchase_answer(outcome)
    names = {p.id: p.name for p in snapshot.promotions}
    blocked = [
        (pid, names.get(pid, str(pid)), _why(reason, names)) for pid, reason in result.blocked
    ]
    by_no = {line["line"]: line for line in answer["lines"]}
    table = [
        {"sku": line.sku, "quantity": line.quantity, "price": line.price, **by_no[line.line_no]}
        for line in lines
    ]
    return Simulation(answer, result, blocked, table, band_rows(snapshot, result.bands))


def _why(reason: str, names: dict[int, str]) -> str:
    code, _sep, other = reason.partition(":")
    if code == "lost_in_group_best":
        return _("a better promotion of its group won: %(name)s") % {
            "name": names.get(int(other), other)
        }
    if code == "target_not_fired":
        return _("the promotion it multiplies gave nothing: %(name)s") % {
            "name": names.get(int(other), other)
        }
    return str(REASONS.get(code, reason))
