"""The segment conditions on what the loyalty core knows: cards, tiers, balances, points about
to expire and purchases. Registered into ``crm.segments.registry`` by ``LoyaltyConfig.ready``.

Purchases (``purchases``): the receipts of the customer that are neither cancelled nor fully
refunded, sold within the window (all time when none is given), at the partners and stores
named; with a product filter (categories with their subcategories, brands, products), only
the lines of those products that are not wholly refunded, and the receipts holding one.
Money is what was paid in money (``to_pay``) net of refunds: a partial refund takes its
money back from the receipt (or the line) it refunds, dated by the receipt's sale.

- ``count``: how many such receipts (0 for a customer with none);
- ``sum``: the money paid on them, net of refunds (0 for none);
- ``average``: ``sum`` / ``count`` (no customer without purchases matches);
- ``units``: the quantity bought net of refunds (0 for none);
- ``recency``: whole days from the last such purchase to the moment of evaluation (no
  customer without purchases matches).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from crm.segments.aggregates import aggregate_q, grouped, holds_zero, range_check, range_q
from crm.segments.params import Param, bad
from crm.segments.registry import (
    ChangeContext,
    CheckContext,
    CompileContext,
    ConditionKind,
    Values,
    register,
)
from loyalty.models import (
    Account,
    Card,
    CardType,
    Category,
    Lot,
    Receipt,
    ReceiptLine,
    Refund,
    RefundLine,
    TierMembership,
)
from loyalty.money import DECIMAL_PLACES, MAX_DIGITS, QUANTITY_DECIMAL_PLACES

CARDS = _("Cards and tiers")
POINTS = _("Points")
PURCHASES = _("Purchases")

HALF_KOPECK = Decimal("0.005")
HALF_UNIT = Decimal("0.0005")  # of a quantity (3 places)
HALF_POINT = Decimal("0.00005")  # of a points amount (4 places)
MONEY = DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
QUANTITY = DecimalField(max_digits=MAX_DIGITS, decimal_places=QUANTITY_DECIMAL_PLACES)
ZERO_MONEY = Value(Decimal("0.00"), output_field=MONEY)

# The receipts that count: neither cancelled nor refunded in full.
COUNTED = [Receipt.Status.CONFIRMED, Receipt.Status.PARTIALLY_REFUNDED]


# --- cards and tiers -----------------------------------------------------------------------


def _card(values: Values, ctx: CompileContext) -> Q:
    q = Q(customer=OuterRef("pk"), programme_id=ctx.programme_id, card_type=CardType.LOYALTY)
    if values["statuses"]:
        q &= Q(status__in=values["statuses"])
    if values["batches"]:
        q &= Q(batch_id__in=values["batches"])
    return Q(Exists(Card.objects.filter(q)))


def _tier(values: Values, ctx: CompileContext) -> Q:
    return Q(
        Exists(
            TierMembership.objects.filter(
                customer=OuterRef("pk"), programme_id=ctx.programme_id, tier_id__in=values["tiers"]
            )
        )
    )


# --- points --------------------------------------------------------------------------------


def _balance(values: Values, ctx: CompileContext) -> Q:
    """The spendable balance of the currency; a customer without an account holds zero."""
    accounts = Account.objects.filter(
        kind=Account.Kind.CUSTOMER, currency_id=values["currency"], customer__isnull=False
    )
    lo, hi = values["min"], values["max"]
    inside = Q(pk__in=accounts.filter(range_q("balance", lo, hi, HALF_POINT)).values("customer_id"))
    if holds_zero(lo, hi):
        inside |= ~Q(pk__in=accounts.values("customer_id"))
    return inside


def _expiring(values: Values, ctx: CompileContext) -> Q:
    """Active earned points of the currency whose lots end within the next ``days`` days."""
    until = ctx.now + timedelta(days=values["days"])
    lots = Lot.objects.filter(
        account__kind=Account.Kind.CUSTOMER,
        account__currency_id=values["currency"],
        kind=Lot.Kind.EARN,
        state=Lot.State.ACTIVE,
        remaining__gt=0,
        expires_at__gt=ctx.now,
        expires_at__lte=until,
    )
    return aggregate_q(
        lots,
        "account__customer_id",
        Sum("remaining"),
        values["min"] or Decimal("0.0001"),
        None,
        zero_when_none=False,
        tolerance=HALF_POINT,
        ctx=ctx,
    )


# --- purchases -----------------------------------------------------------------------------

MEASURES = [
    ("count", _("number of purchases")),
    ("sum", _("money paid, net of refunds")),
    ("average", _("average purchase")),
    ("units", _("units bought")),
    ("recency", _("days since the last purchase")),
]


def category_ids(ids: list[int], ctx: CompileContext) -> list[int]:
    """``ids`` with all their subcategories (the tree is read once per compile)."""
    children = ctx.cache.get("category_children")
    if children is None:
        children = {}
        for pk, parent in Category.objects.values_list("pk", "parent_id"):
            children.setdefault(parent, []).append(pk)
        ctx.cache["category_children"] = children
    found: set[int] = set()
    todo = list(ids)
    while todo:
        node = todo.pop()
        if node in found:
            continue
        found.add(node)
        todo.extend(children.get(node, ()))
    return sorted(found)


def _receipt_filters(values: Values, ctx: CompileContext, prefix: str = "") -> Q:
    q = Q(**{f"{prefix}status__in": COUNTED, f"{prefix}customer__isnull": False})
    if values["window"] is not None:
        q &= values["window"].q(f"{prefix}sold_at", ctx.now)
    if values["partners"]:
        q &= Q(**{f"{prefix}partner_id__in": values["partners"]})
    if values["stores"]:
        q &= Q(**{f"{prefix}store_id__in": values["stores"]})
    return q


def _product_filters(values: Values, ctx: CompileContext) -> Q:
    q = Q()
    if values["categories"]:
        q &= Q(product__category_id__in=category_ids(values["categories"], ctx))
    if values["brands"]:
        q &= Q(product__brand_id__in=values["brands"])
    if values["products"]:
        q &= Q(product_id__in=values["products"])
    return q


def _by_lines(values: Values) -> bool:
    return bool(values["categories"] or values["brands"] or values["products"])


def receipt_net_to_pay():
    """A receipt's money net of its refunds (a cancel is no refund: cancelled receipts are
    left out before)."""
    refunded = (
        Refund.objects.filter(receipt=OuterRef("pk"), kind=Refund.Kind.REFUND)
        .order_by()
        .values("receipt")
        .annotate(money=Sum("to_pay"))
        .values("money")
    )
    return Case(
        When(status=Receipt.Status.CONFIRMED, then=F("to_pay")),
        default=F("to_pay") - Coalesce(Subquery(refunded, output_field=MONEY), ZERO_MONEY),
        output_field=MONEY,
    )


def line_net_to_pay():
    refunded = (
        RefundLine.objects.filter(line=OuterRef("pk"), refund__kind=Refund.Kind.REFUND)
        .order_by()
        .values("line")
        .annotate(money=Sum("to_pay"))
        .values("money")
    )
    return Case(
        When(refunded_quantity=0, then=F("to_pay")),
        default=F("to_pay") - Coalesce(Subquery(refunded, output_field=MONEY), ZERO_MONEY),
        output_field=MONEY,
    )


def _purchases(values: Values, ctx: CompileContext) -> Q:
    measure, lo, hi = values["measure"], values["min"], values["max"]
    rows: QuerySet
    if measure == "units" or _by_lines(values):
        rows = ReceiptLine.objects.filter(
            _receipt_filters(values, ctx, "receipt__"),
            _product_filters(values, ctx),
            quantity__gt=F("refunded_quantity"),
        )
        key, receipt, sold_at = "receipt__customer_id", "receipt_id", "receipt__sold_at"
        count = Count(receipt, distinct=True)
        money = Sum(line_net_to_pay())
    else:
        rows = Receipt.objects.filter(_receipt_filters(values, ctx))
        key, sold_at = "customer_id", "sold_at"
        count = Count("pk")
        money = Sum(receipt_net_to_pay())
    if measure == "count":
        return aggregate_q(rows, key, count, lo, hi, zero_when_none=True, ctx=ctx)
    if measure == "sum":
        return aggregate_q(
            rows, key, money, lo, hi, zero_when_none=True, tolerance=HALF_KOPECK, ctx=ctx
        )
    if measure == "units":
        units = Sum(F("quantity") - F("refunded_quantity"), output_field=QUANTITY)
        return aggregate_q(
            rows, key, units, lo, hi, zero_when_none=True, tolerance=HALF_UNIT, ctx=ctx
        )
    by_customer = grouped(rows, key, ctx)
    if measure == "average":
        # sum / count within [lo, hi] <=> lo * count <= sum <= hi * count (count > 0)
        by_customer = by_customer.annotate(segment_sum=money, segment_count=count)
        inside = Q(segment_count__gt=0)
        if lo is not None:
            inside &= Q(segment_sum__gt=F("segment_count") * Value(lo) - Value(HALF_KOPECK))
        if hi is not None:
            inside &= Q(segment_sum__lt=F("segment_count") * Value(hi) + Value(HALF_KOPECK))
        return Q(pk__in=by_customer.filter(inside).values(key))
    # recency: whole days since the last purchase in lo..hi <=> the last purchase at or before
    # now - lo days, and after now - (hi + 1) days
    last = Max(sold_at)
    latest = ctx.now - timedelta(days=int(lo)) if lo is not None else None
    earliest = ctx.now - timedelta(days=int(hi) + 1) if hi is not None else None
    by_customer = by_customer.annotate(segment_last=last)
    inside = Q()
    if latest is not None:
        inside &= Q(segment_last__lte=latest)
    if earliest is not None:
        inside &= Q(segment_last__gt=earliest)
    return Q(pk__in=by_customer.filter(inside).values(key))


def _purchases_time_stable(values: Values) -> bool:
    """A customer's purchases measure changes only with their receipts and refunds, unless it
    reads the clock (a window of the last days, the recency) or the catalogue (categories and
    brands: a product moved to another category changes everyone who bought it)."""
    window = values["window"]
    return (
        (window is None or window.last_days is None)
        and values["measure"] != "recency"
        and not values["categories"]
        and not values["brands"]
    )


def _purchases_changed(values: Values, ctx: ChangeContext) -> list:
    """Customers with a receipt recorded since (uploaded offline too: ``recorded_at`` is when
    it was written) or a refund or cancellation of theirs since (which changes the receipt's
    status and its lines' refunded quantities in the same transaction)."""
    return [
        Receipt.objects.filter(recorded_at__gte=ctx.since, customer__isnull=False).values(
            "customer_id"
        ),
        Refund.objects.filter(created_at__gte=ctx.since, receipt__customer__isnull=False).values(
            "receipt__customer_id"
        ),
    ]


def _purchases_check(values: Values, ctx: CheckContext) -> None:
    range_check(values)
    measure = values["measure"]
    for name in ("min", "max"):
        value = values[name]
        if value is None:
            continue
        if measure in ("count", "recency") and value != value.to_integral_value():
            raise bad(name, _("A whole number."))
        if measure in ("count", "recency", "average") and value < 0:
            raise bad(name, _("Must be at least %(minimum)s.") % {"minimum": 0})


def register_loyalty_kinds() -> None:
    from loyalty.rfm.condition import RFM_CELL

    register(
        ConditionKind(
            "card",
            _("has a card"),
            CARDS,
            (
                Param("statuses", _("in status"), "choices", choices=Card.Status.choices),
                Param(
                    "batches",
                    _("of the batches"),
                    "ids",
                    model="loyalty.CardBatch",
                    programme_field="programme",
                ),
            ),
            _card,
            app_label="loyalty",
            help_text=_("A loyalty card of the segment's programme."),
        ),
        ConditionKind(
            "tier",
            _("tier"),
            CARDS,
            (
                Param(
                    "tiers",
                    _("one of the tiers"),
                    "ids",
                    required=True,
                    model="loyalty.Tier",
                    programme_field="programme",
                ),
            ),
            _tier,
            app_label="loyalty",
        ),
        ConditionKind(
            "balance",
            _("balance"),
            POINTS,
            (
                Param(
                    "currency",
                    _("currency"),
                    "id",
                    required=True,
                    model="loyalty.Currency",
                    programme_field="programme",
                ),
                Param("min", _("from"), "decimal", places=4),
                Param("max", _("to"), "decimal", places=4),
            ),
            _balance,
            check=lambda values, ctx: range_check(values),
            app_label="loyalty",
        ),
        ConditionKind(
            "expiring",
            _("points about to expire"),
            POINTS,
            (
                Param(
                    "currency",
                    _("currency"),
                    "id",
                    required=True,
                    model="loyalty.Currency",
                    programme_field="programme",
                ),
                Param("days", _("within days"), "int", required=True, minimum=1, maximum=366),
                Param(
                    "min",
                    _("at least"),
                    "decimal",
                    places=4,
                    minimum=Decimal("0.0001"),
                    help_text=_("Empty: any points."),
                ),
            ),
            _expiring,
            app_label="loyalty",
        ),
        ConditionKind(
            "purchases",
            _("purchases"),
            PURCHASES,
            (
                Param("measure", _("measure"), "choice", required=True, choices=MEASURES),
                Param("min", _("from"), "decimal", places=2),
                Param("max", _("to"), "decimal", places=2),
                Param("window", _("when"), "window", help_text=_("Empty: all time.")),
                Param("partners", _("at the partners"), "ids", model="loyalty.Partner"),
                Param("stores", _("in the stores"), "ids", model="loyalty.Store"),
                Param(
                    "categories", _("products of the categories"), "ids", model="loyalty.Category"
                ),
                Param("brands", _("products of the brands"), "ids", model="loyalty.Brand"),
                Param("products", _("the products"), "ids", model="loyalty.Product"),
            ),
            _purchases,
            check=_purchases_check,
            app_label="loyalty",
            time_stable=_purchases_time_stable,
            changes=_purchases_changed,
        ),
        RFM_CELL,
    )
