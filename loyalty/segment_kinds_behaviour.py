"""Segment conditions on how a customer buys, beside the plain purchase measures of
``loyalty.segment_kinds``: the share of the spend bought on promotion, the share of wallet at
some partners or categories, the growth of the spend against the period before, and the risk
of churn read from the customer's own rhythm of purchases. Registered into
``crm.segments.registry`` by ``LoyaltyConfig.ready``; the ready segmentations
(``loyalty.segmentations``) are built from them.

**Spend** is what the ``purchases`` kind's ``sum`` is: money paid (``to_pay``) net of partial
refunds, on receipts neither cancelled nor refunded in full, dated by the sale. It is read from
the receipt's lines (a receipt always has lines, and its money is theirs), leaving out lines
returned in full, so that a share of it by product or by promotion is a share of one total.

- ``promo_share``: the share (percent) of the spend in the window that was bought on
  promotion. ``basis`` ``discount``: a line with a discount (every discount on a line is a
  promotion's: a price cut, a special price, an Nth unit, a coupon), price sensitivity;
  ``promotions``: a line one of the named promotions rewarded (a discount or points; not a
  refund's row), e.g. the campaigns without the everyday accrual, itself a promotion.
- ``wallet_share``: the share (percent) of the spend in the window that went to the partners
  and/or the categories (with their subcategories) named.
- ``spend_growth``: the spend in the window against the spend in the window of the same length
  just before it, in percent (-100: nothing bought now). A customer who spent nothing before
  and something now has unbounded growth: they are in every range without an upper bound.
- ``churn_risk``: with at least ``min_purchases`` purchases in the window (receipts, at the
  partners named), the mean interval is (last - first) / (count - 1) and the overdue ratio
  (the moment of evaluation - last) / the mean interval; 2 means twice as long since the last
  purchase as the customer usually waits. Times are read in whole seconds.

None of them matches a customer for whom the measure is not defined: no spend in the window
(both shares; growth when nothing was spent in either window), too few purchases or all of
them at one moment (churn). Every condition is ``pk IN (SELECT customer ... GROUP BY ...
HAVING ...)``, never NULL.

Ratios are compared as products, never divided in SQL: ``part >= lo / 100 * total``. Amounts
are whole kopecks and bounds have at most two places, so a true difference is at least a
millionth of a kopeck; within half of that both databases compare exactly (SQLite adds
decimals as floats). Churn compares integers (seconds).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext_lazy as _

from crm.segments.aggregates import range_check
from crm.segments.params import Param, Window, bad
from crm.segments.registry import CheckContext, CompileContext, ConditionKind, Values, register
from loyalty.models import Receipt, ReceiptLine, ReceiptLineReward
from loyalty.segment_kinds import (
    COUNTED,
    HALF_KOPECK,
    MONEY,
    ZERO_MONEY,
    category_ids,
    line_net_to_pay,
)

BEHAVIOUR = _("Buying behaviour")

# Half a millionth: below any true difference of ``part`` and ``share * total`` (kopecks
# against a share with four places), above SQLite's float error.
HALF_MILLIONTH = Decimal("0.0000005")
HUNDRED = Decimal(100)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

BASES = [
    ("discount", _("bought at a discount")),
    ("promotions", _("rewarded by the promotions named")),
]


PERCENT_MIN = Param("min", _("from, %"), "decimal", places=2, minimum=0, maximum=HUNDRED)
PERCENT_MAX = Param("max", _("to, %"), "decimal", places=2, minimum=0, maximum=HUNDRED)
# growth: -100 % is nothing bought now; no upper limit
GROWTH_MIN = Param("min", _("from, %"), "decimal", places=2, minimum=-HUNDRED)
GROWTH_MAX = Param("max", _("to, %"), "decimal", places=2, minimum=-HUNDRED)
WINDOW = Param("window", _("when"), "window", help_text=_("Empty: all time."))
PARTNERS = Param("partners", _("at the partners"), "ids", model="loyalty.Partner")


def epoch_seconds(moment: dt.datetime) -> int:
    """Whole seconds since 1970 (rounded down), as ``EpochSeconds`` reads a column."""
    return (moment - EPOCH) // dt.timedelta(seconds=1)


class EpochSeconds(Func):
    """A moment as whole seconds since 1970, rounded down. On SQLite a moment is UTC text
    ``YYYY-MM-DD HH:MM:SS[.ffffff]``: its first 19 characters are the whole second, whose
    julian day is exact to well under a second."""

    template = "CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s)) AS bigint)"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template=(
                "CAST(ROUND((julianday(substr(%(expressions)s, 1, 19)) - 2440587.5) * 86400) "
                "AS INTEGER)"
            ),
            **extra,
        )


def _lines(
    ctx: CompileContext, partners: list[int] | None, since=None, until=None, inclusive=True
) -> QuerySet[ReceiptLine]:
    """The lines that count: on receipts of a customer neither cancelled nor refunded in
    full, not returned in full, sold within since..until, at the partners (if named)."""
    q = Q(
        receipt__status__in=COUNTED,
        receipt__customer__isnull=False,
        quantity__gt=F("refunded_quantity"),
    )
    if since is not None:
        q &= Q(receipt__sold_at__gte=since)
    if until is not None:
        q &= Q(**{f"receipt__sold_at__{'lte' if inclusive else 'lt'}": until})
    if partners:
        q &= Q(receipt__partner_id__in=partners)
    return ReceiptLine.objects.filter(q)


def _window_lines(values: Values, ctx: CompileContext, partners=None) -> QuerySet[ReceiptLine]:
    window: Window | None = values["window"]
    since, until, inclusive = window.bounds(ctx.now) if window else (None, None, True)
    return _lines(ctx, partners, since, until, inclusive)


def _money_when(condition: Q) -> Sum:
    return Sum(
        Case(When(condition, then=line_net_to_pay()), default=ZERO_MONEY, output_field=MONEY)
    )


def _at_least(part: str, share: Decimal, whole: str) -> Q:
    """``part >= share * whole`` (exact, see the module's note)."""
    return Q(**{f"{part}__gt": F(whole) * Value(share) - Value(HALF_MILLIONTH)})


def _at_most(part: str, share: Decimal, whole: str) -> Q:
    return Q(**{f"{part}__lt": F(whole) * Value(share) + Value(HALF_MILLIONTH)})


def _share_q(rows: QuerySet[ReceiptLine], part: Q, lo, hi) -> Q:
    """Customers with some spend in ``rows`` whose ``part`` of it is ``lo``..``hi`` percent."""
    grouped = (
        rows.order_by()
        .values("receipt__customer_id")
        .annotate(segment_total=Sum(line_net_to_pay()), segment_part=_money_when(part))
    )
    inside = Q(segment_total__gt=HALF_KOPECK)
    if lo is not None:
        inside &= _at_least("segment_part", lo / HUNDRED, "segment_total")
    if hi is not None:
        inside &= _at_most("segment_part", hi / HUNDRED, "segment_total")
    return Q(pk__in=grouped.filter(inside).values("receipt__customer_id"))


# --- promo_share ---------------------------------------------------------------------------


def _promo_share(values: Values, ctx: CompileContext) -> Q:
    if values["basis"] == "promotions":
        on_promotion = Q(
            Exists(
                ReceiptLineReward.objects.filter(
                    line=OuterRef("pk"), promotion_id__in=values["promotions"], refund__isnull=True
                )
            )
        )
    else:
        on_promotion = Q(discount__gt=0)
    rows = _window_lines(values, ctx, values["partners"])
    return _share_q(rows, on_promotion, values["min"], values["max"])


def _promo_share_check(values: Values, ctx: CheckContext) -> None:
    range_check(values)
    if values["basis"] == "promotions" and not values["promotions"]:
        raise bad("promotions", _("Name the promotions whose rewards count."))
    if values["basis"] != "promotions" and values["promotions"]:
        raise bad("promotions", _("Promotions are named only with the basis “promotions”."))


# --- wallet_share --------------------------------------------------------------------------


def _wallet_share(values: Values, ctx: CompileContext) -> Q:
    ours = Q()
    if values["partners"]:
        ours &= Q(receipt__partner_id__in=values["partners"])
    if values["categories"]:
        ours &= Q(product__category_id__in=category_ids(values["categories"], ctx))
    return _share_q(_window_lines(values, ctx), ours, values["min"], values["max"])


def _wallet_share_check(values: Values, ctx: CheckContext) -> None:
    if not values["partners"] and not values["categories"]:
        raise bad("partners", _("Name the partners, the categories or both."))
    range_check(values)


# --- spend_growth --------------------------------------------------------------------------


def periods(window: Window, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(before, since, until): the window is since..until (until included for the last N
    days, excluded for dates), the one before it before..since (since excluded): as many
    24-hour days, or as many dates (whatever a change of the clocks does to their hours)."""
    since, until, _inclusive = window.bounds(now)
    assert since is not None
    assert until is not None
    if window.start is not None and window.end is not None:
        days = window.end - window.start + dt.timedelta(days=1)
        before = Window(start=window.start - days, end=window.start).bounds(now)[0]
        assert before is not None
        return before, since, until
    return since - (until - since), since, until


def _spend_growth(values: Values, ctx: CompileContext) -> Q:
    window: Window = values["window"]
    before, since, until = periods(window, ctx.now)
    inclusive = window.last_days is not None
    rows = _lines(ctx, values["partners"], before, until, inclusive)
    if values["categories"]:
        rows = rows.filter(product__category_id__in=category_ids(values["categories"], ctx))
    grouped = (
        rows.order_by()
        .values("receipt__customer_id")
        .annotate(
            segment_now=_money_when(Q(receipt__sold_at__gte=since)),
            segment_before=_money_when(Q(receipt__sold_at__lt=since)),
        )
    )
    lo, hi = values["min"], values["max"]
    grown = Q(segment_before__gt=HALF_KOPECK)
    # growth >= lo  <=>  now >= (1 + lo / 100) * before, when before > 0
    if lo is not None:
        grown &= _at_least("segment_now", 1 + lo / HUNDRED, "segment_before")
    if hi is not None:
        grown &= _at_most("segment_now", 1 + hi / HUNDRED, "segment_before")
    inside = grown
    if hi is None:  # nothing before, something now: unbounded growth
        inside |= Q(segment_before__lte=HALF_KOPECK, segment_now__gt=HALF_KOPECK)
    return Q(pk__in=grouped.filter(inside).values("receipt__customer_id"))


def _spend_growth_check(values: Values, ctx: CheckContext) -> None:
    window: Window = values["window"]
    if window.last_days is None and (window.start is None or window.end is None):
        raise bad(
            "window",
            _(
                "Give the last N days or both dates: the window is compared with the one of "
                "the same length before it."
            ),
        )
    range_check(values)


# --- churn_risk ----------------------------------------------------------------------------

MIN_PURCHASES = 3


def _churn_risk(values: Values, ctx: CompileContext) -> Q:
    q = Q(status__in=COUNTED, customer__isnull=False)
    if values["window"] is not None:
        q &= values["window"].q("sold_at", ctx.now)
    if values["partners"]:
        q &= Q(partner_id__in=values["partners"])
    least = values["min_purchases"] or MIN_PURCHASES
    now = Value(epoch_seconds(ctx.now))
    grouped = (
        Receipt.objects.filter(q)
        .order_by()
        .values("customer_id")
        .annotate(
            segment_count=Count("pk"),
            segment_first=EpochSeconds(Min("sold_at")),
            segment_last=EpochSeconds(Max("sold_at")),
        )
        .annotate(
            # ratio = (now - last) * (count - 1) / (last - first), compared as products, in
            # hundredths (the bounds have two places)
            segment_overdue=(now - F("segment_last")) * (F("segment_count") - 1) * 100,
            segment_span=F("segment_last") - F("segment_first"),
        )
    )
    inside = Q(segment_count__gte=least, segment_span__gt=0)
    if values["min"] is not None:
        inside &= Q(segment_overdue__gte=F("segment_span") * int(values["min"] * 100))
    if values["max"] is not None:
        inside &= Q(segment_overdue__lte=F("segment_span") * int(values["max"] * 100))
    return Q(pk__in=grouped.filter(inside).values("customer_id"))


def register_behaviour_kinds() -> None:
    register(
        ConditionKind(
            "promo_share",
            _("share bought on promotion"),
            BEHAVIOUR,
            (
                Param("basis", _("on promotion means"), "choice", required=True, choices=BASES),
                Param(
                    "promotions",
                    _("rewarded by the promotions"),
                    "ids",
                    model="promotions.Promotion",
                    programme_field="programme",
                ),
                PERCENT_MIN,
                PERCENT_MAX,
                WINDOW,
                PARTNERS,
            ),
            _promo_share,
            check=_promo_share_check,
            app_label="loyalty",
            help_text=_(
                "The percent of the money spent (net of refunds) that was bought on promotion; "
                "customers without spend in the window never match."
            ),
        ),
        ConditionKind(
            "wallet_share",
            _("share of wallet"),
            BEHAVIOUR,
            (
                PARTNERS,
                Param(
                    "categories", _("products of the categories"), "ids", model="loyalty.Category"
                ),
                PERCENT_MIN,
                PERCENT_MAX,
                WINDOW,
            ),
            _wallet_share,
            check=_wallet_share_check,
            app_label="loyalty",
            help_text=_(
                "The percent of the customer's money spent in the window that went to these "
                "partners or categories; customers without spend in the window never match."
            ),
        ),
        ConditionKind(
            "spend_growth",
            _("growth of spend"),
            BEHAVIOUR,
            (
                Param("window", _("when"), "window", required=True),
                GROWTH_MIN,
                GROWTH_MAX,
                PARTNERS,
                Param(
                    "categories", _("products of the categories"), "ids", model="loyalty.Category"
                ),
            ),
            _spend_growth,
            check=_spend_growth_check,
            app_label="loyalty",
            help_text=_(
                "The spend in the window against the window of the same length before it, in "
                "percent; nothing before and something now is growth without limit."
            ),
        ),
        ConditionKind(
            "churn_risk",
            _("risk of churn"),
            BEHAVIOUR,
            (
                Param("min", _("overdue from"), "decimal", places=2, minimum=Decimal(0)),
                Param("max", _("overdue to"), "decimal", places=2, minimum=Decimal(0)),
                Param(
                    "min_purchases",
                    _("at least purchases"),
                    "int",
                    minimum=2,
                    maximum=10000,
                    help_text=_("Empty: 3."),
                ),
                WINDOW,
                PARTNERS,
            ),
            _churn_risk,
            check=lambda values, ctx: range_check(values),
            app_label="loyalty",
            help_text=_(
                "Time since the last purchase over the customer's mean interval between "
                "purchases (2: twice as long as usual)."
            ),
        ),
    )
