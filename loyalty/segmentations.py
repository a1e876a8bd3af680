"""The ready segmentations on purchases, registered into ``crm.segments.segmentations`` by
``LoyaltyConfig.ready``. Each makes ordinary rule segments from the conditions of
``loyalty.segment_kinds`` and ``loyalty.segment_kinds_behaviour``:

- ``bcg``: stars, cash cows, question marks and dogs: a share of wallet at the partners or
  categories named (``wallet_share``) at or above a threshold or below it, against the
  growth of the spend (``spend_growth``, of the spend there or of all of it) at or above a
  threshold or below it. Every customer with spend in the window is in exactly one (growth
  that cannot be told, nothing spent there in either window, counts as low);
- ``binary``: the buyers of the categories in the period and the non-buyers (everyone else,
  or only those who bought something else then);
- ``promo-sensitivity``: low, medium and high bands of ``promo_share``;
- ``churn-risk``: low, medium and high bands of ``churn_risk``.

Bands are half-open, [from, to): a band is "at least its lower bound and NOT at least the next
band's", so that the bands split the customers whose measure is defined with no gap and no
overlap whatever the decimals.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from crm.segments.params import Param, bad, param_dump
from crm.segments.registry import Values
from crm.segments.segmentations import Segmentation, SegmentPlan, register_segmentation
from loyalty.segment_kinds_behaviour import BASES

HUNDRED = Decimal(100)
WINDOW = Param("window", _("period"), "window", required=True)
PARTNERS = Param("partners", _("partners"), "ids", model="loyalty.Partner")
CATEGORIES = Param("categories", _("categories"), "ids", model="loyalty.Category")
GROWTH_OF = [
    ("ours", _("the spend at these partners or categories")),
    ("all", _("all the customer's spend")),
]
AMONG = [
    ("all", _("every customer")),
    ("buyers", _("customers who bought something in the period")),
]


def _group(*items: dict) -> dict:
    return {"op": "and", "items": list(items)}


def _condition(kind: str, values: Values, names: tuple[str, ...], **extra) -> dict:
    """A condition of ``kind`` with the segmentation's parameters ``names`` (when given)."""
    out: dict = {"kind": kind}
    for name in names:
        value = values.get(name)
        if value is not None:
            out[name] = param_dump(WINDOW, value) if name == "window" else value
    return {**out, **extra}


def _band(kind: str, base: dict, lo: Decimal | None, hi: Decimal | None) -> dict:
    """``kind`` at least ``lo`` (or defined at all, from ``floor``) and below ``hi``."""
    items = [{**base, "min": str(lo)}]
    if hi is not None:
        items.append({**base, "not": True, "min": str(hi)})
    return _group(*items)


def _bands_check(values: Values, low: str = "medium_from", high: str = "high_from") -> None:
    if values[low] >= values[high]:
        raise bad(high, _("The high band must start above the medium one."))


# --- BCG -----------------------------------------------------------------------------------


def _bcg(values: Values) -> list[SegmentPlan]:
    ours = ("window", "partners", "categories")
    share = _condition("wallet_share", values, ours)
    growth_names = ours if values["growth_of"] == "ours" else ("window",)
    growth = _condition("spend_growth", values, growth_names)
    t = str(values["share_from"])
    g = str(values["growth_from"])
    high_share = {**share, "min": t}
    low_share = [{**share, "min": "0"}, {**share, "not": True, "min": t}]
    high_growth = {**growth, "min": g}
    low_growth = {**growth, "not": True, "min": g}
    share_text = _("share of wallet at least %(t)s %%") % {"t": t}
    low_text = _("share of wallet below %(t)s %%") % {"t": t}
    growth_text = _("spend growing at least %(g)s %%") % {"g": g}
    slow_text = _("spend growing less than %(g)s %% (or not at all)") % {"g": g}
    return [
        SegmentPlan("stars", _("stars"), _group(high_share, high_growth), f"{share_text}; {growth_text}"),
        SegmentPlan("cash-cows", _("cash cows"), _group(high_share, low_growth), f"{share_text}; {slow_text}"),
        SegmentPlan("question-marks", _("question marks"), _group(*low_share, high_growth), f"{low_text}; {growth_text}"),
        SegmentPlan("dogs", _("dogs"), _group(*low_share, low_growth), f"{low_text}; {slow_text}"),
    ]  # fmt: skip


def _bcg_check(values: Values) -> None:
    window = values["window"]
    if window.last_days is None and (window.start is None or window.end is None):
        raise bad("window", _("Give the last N days or both dates: growth compares periods."))
    if not values["partners"] and not values["categories"]:
        raise bad("partners", _("Name the partners, the categories or both."))


# --- buyers and non-buyers -----------------------------------------------------------------


def _binary(values: Values) -> list[SegmentPlan]:
    bought = _condition(
        "purchases", values, ("window", "partners", "categories"), measure="count", min=1
    )
    non_buyers = [{**bought, "not": True}]
    if values["among"] == "buyers":
        non_buyers.append(_condition("purchases", values, ("window",), measure="count", min=1))
    return [
        SegmentPlan(
            "buyers", _("buyers"), _group(bought), _("Bought the categories in the period.")
        ),
        SegmentPlan(
            "non-buyers",
            _("non-buyers"),
            _group(*non_buyers),
            _("Did not buy the categories in the period."),
        ),
    ]


# --- promotion sensitivity -----------------------------------------------------------------


def _sensitivity(values: Values) -> list[SegmentPlan]:
    base = _condition("promo_share", values, ("basis", "promotions", "window", "partners"))
    medium, high = values["medium_from"], values["high_from"]
    return [
        SegmentPlan(
            "low",
            _("low"),
            _band("promo_share", base, Decimal(0), medium),
            _("Below %(hi)s %% of the spend on promotion.") % {"hi": medium},
        ),
        SegmentPlan(
            "medium",
            _("medium"),
            _band("promo_share", base, medium, high),
            _("From %(lo)s %% to below %(hi)s %% of the spend on promotion.")
            % {"lo": medium, "hi": high},
        ),
        SegmentPlan(
            "high",
            _("high"),
            _band("promo_share", base, high, None),
            _("At least %(lo)s %% of the spend on promotion.") % {"lo": high},
        ),
    ]


def _sensitivity_check(values: Values) -> None:
    if values["basis"] == "promotions" and not values["promotions"]:
        raise bad("promotions", _("Name the promotions whose rewards count."))
    if values["basis"] != "promotions" and values["promotions"]:
        raise bad("promotions", _("Promotions are named only with the basis “promotions”."))
    _bands_check(values)


# --- churn risk ----------------------------------------------------------------------------


def _churn(values: Values) -> list[SegmentPlan]:
    base = _condition("churn_risk", values, ("window", "partners", "min_purchases"))
    medium, high = values["medium_from"], values["high_from"]
    return [
        SegmentPlan(
            "low",
            _("low"),
            _band("churn_risk", base, Decimal(0), medium),
            _("Overdue less than %(hi)s times the usual interval.") % {"hi": medium},
        ),
        SegmentPlan(
            "medium",
            _("medium"),
            _band("churn_risk", base, medium, high),
            _("Overdue %(lo)s to less than %(hi)s times the usual interval.")
            % {"lo": medium, "hi": high},
        ),
        SegmentPlan(
            "high",
            _("high"),
            _band("churn_risk", base, high, None),
            _("Overdue at least %(lo)s times the usual interval.") % {"lo": high},
        ),
    ]


def register_segmentations() -> None:
    register_segmentation(
        Segmentation(
            "bcg",
            _("BCG matrix"),
            (
                WINDOW,
                PARTNERS,
                CATEGORIES,
                Param(
                    "share_from",
                    _("high share of wallet from, %"),
                    "decimal",
                    required=True,
                    minimum=Decimal("0.01"),
                    maximum=HUNDRED,
                ),
                Param(
                    "growth_from",
                    _("high growth from, %"),
                    "decimal",
                    required=True,
                    minimum=-HUNDRED,
                ),
                Param("growth_of", _("growth of"), "choice", required=True, choices=GROWTH_OF),
            ),
            _bcg,
            check=_bcg_check,
            help_text=_(
                "Stars, cash cows, question marks and dogs: the share of the customer's spend "
                "at these partners or categories against the growth of the spend over the "
                "period before. Customers without spend in the period are in none."
            ),
            initial={
                "window": {"last_days": 90},
                "share_from": "50",
                "growth_from": "0",
                "growth_of": "ours",
            },
            app_label="loyalty",
        ),
        Segmentation(
            "binary",
            _("Buyers and non-buyers"),
            (
                Param(
                    "categories",
                    _("categories"),
                    "ids",
                    required=True,
                    model="loyalty.Category",
                ),
                WINDOW,
                PARTNERS,
                Param("among", _("non-buyers among"), "choice", required=True, choices=AMONG),
            ),
            _binary,
            help_text=_("Who bought the categories (with their subcategories) in the period."),
            initial={"window": {"last_days": 90}, "among": "all"},
            app_label="loyalty",
        ),
        Segmentation(
            "promo-sensitivity",
            _("Promotion sensitivity"),
            (
                WINDOW,
                Param("basis", _("on promotion means"), "choice", required=True, choices=BASES),
                Param(
                    "promotions",
                    _("rewarded by the promotions"),
                    "ids",
                    model="promotions.Promotion",
                    programme_field="programme",
                ),
                PARTNERS,
                Param(
                    "medium_from",
                    _("medium from, %"),
                    "decimal",
                    required=True,
                    minimum=Decimal("0.01"),
                    maximum=HUNDRED,
                ),
                Param(
                    "high_from",
                    _("high from, %"),
                    "decimal",
                    required=True,
                    minimum=Decimal("0.01"),
                    maximum=HUNDRED,
                ),
            ),
            _sensitivity,
            check=_sensitivity_check,
            help_text=_(
                "Low, medium and high shares of the money spent that was bought on promotion."
            ),
            initial={
                "window": {"last_days": 180},
                "basis": "discount",
                "medium_from": "20",
                "high_from": "60",
            },
            app_label="loyalty",
        ),
        Segmentation(
            "churn-risk",
            _("Churn risk"),
            (
                Param("window", _("period"), "window", help_text=_("Empty: all time.")),
                PARTNERS,
                Param("min_purchases", _("at least purchases"), "int", minimum=2, maximum=10000),
                Param(
                    "medium_from",
                    _("medium from (times the usual interval)"),
                    "decimal",
                    required=True,
                    minimum=Decimal("0.01"),
                ),
                Param(
                    "high_from",
                    _("high from (times the usual interval)"),
                    "decimal",
                    required=True,
                    minimum=Decimal("0.01"),
                ),
            ),
            _churn,
            check=_bands_check,
            help_text=_(
                "Low, medium and high risk: the time since the last purchase against the "
                "customer's own mean interval between purchases. Customers with too few "
                "purchases are in none."
            ),
            initial={
                "window": {"last_days": 365},
                "min_purchases": 3,
                "medium_from": "1.5",
                "high_from": "3",
            },
            app_label="loyalty",
        ),
    )
