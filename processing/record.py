"""The record of a purchase that has no stored answer (one loaded from history), built from its
rows in the shape confirm answers (pos-api.md, "The result"): the receipt and its lines, the
promotions its line rewards name, and the customer's balance around it from the ledger's
running balances. Every amount in its currency's places, money in 2."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Max, Min

from loyalty.models import (
    Account,
    Currency,
    LedgerEntry,
    Posting,
    Receipt,
    ReceiptLineReward,
    TierChange,
    TierMembership,
)
from loyalty.money import DECIMAL_PLACES, ZERO, money_text, points_text
from processing.reversal import programme_of

ACTIVE = LedgerEntry.Bucket.ACTIVE
PENDING = LedgerEntry.Bucket.PENDING


def purchase_record(receipt: Receipt) -> dict:
    """What confirm would have answered for ``receipt``, from the rows it left."""
    currencies = {c.pk: c for c in Currency.objects.all()}
    main = currencies.get(receipt.currency_id) if receipt.currency_id is not None else None
    places = main.decimal_places if main is not None else DECIMAL_PLACES
    before, after, pending = _balance(receipt)
    customer = None
    if receipt.customer is not None:
        customer = {"id": receipt.customer.public_id, "tier": _tier(receipt, receipt.customer.pk)}
    return {
        "receipt_id": receipt.receipt_id,
        "status": Receipt.Status.CONFIRMED,
        "customer": customer,
        "total": money_text(receipt.total),
        "discount": money_text(receipt.discount),
        "points_spent": money_text(receipt.points_spent),
        "to_pay": money_text(receipt.to_pay),
        "points_earned": points_text(receipt.points_earned, places),
        "balance": {
            "before": points_text(before, places),
            "after": points_text(after, places),
            "pending": points_text(pending, places),
        },
        "lines": [
            {
                "line": line.line_no,
                "amount": money_text(line.amount),
                "discount": money_text(line.discount),
                "points_spent": money_text(line.points_spent),
                "to_pay": money_text(line.to_pay),
                "points_earned": points_text(line.points_earned, places),
            }
            for line in receipt.lines.order_by("line_no")
        ],
        "promotions": _promotions(receipt, currencies),
        "coupons": [],
        "messages": [],
    }


def _balance(receipt: Receipt) -> tuple[Decimal, Decimal, Decimal]:
    """The customer's active points before and after the purchase, and pending after it: the
    running balances of its main account around the entries of the purchase's postings (at
    its time of sale when it moved none)."""
    if receipt.customer_id is None or receipt.currency_id is None:
        return ZERO, ZERO, ZERO
    account = Account.objects.filter(
        kind=Account.Kind.CUSTOMER, customer_id=receipt.customer_id, currency_id=receipt.currency_id
    ).first()
    if account is None:
        return ZERO, ZERO, ZERO
    entries = LedgerEntry.objects.filter(account=account)
    own = entries.filter(posting__receipt=receipt, posting__cause=Posting.Cause.RECEIPT).aggregate(
        first=Min("account_version"), last=Max("account_version")
    )
    if own["first"] is None:
        last = (
            entries.filter(posting__occurred_at__lte=receipt.sold_at).aggregate(
                last=Max("account_version")
            )["last"]
            or 0
        )
        first = last + 1
    else:
        first, last = own["first"], own["last"]

    def running(bucket: str, version: int) -> Decimal:
        found = (
            entries.filter(bucket=bucket, account_version__lte=version)
            .order_by("-account_version")
            .values_list("balance_after", flat=True)
            .first()
        )
        return found if found is not None else ZERO

    return running(ACTIVE, first - 1), running(ACTIVE, last), running(PENDING, last)


def _tier(receipt: Receipt, customer_id: int) -> str | None:
    """The customer's tier after the purchase: the last move up to its time, else the tier
    the first later move started from, else the tier they hold (never moved)."""
    programme = programme_of(receipt)
    changes = TierChange.objects.filter(
        customer_id=customer_id, programme_id=programme
    ).select_related("from_tier", "to_tier")
    moved = changes.filter(changed_at__lte=receipt.recorded_at).order_by("-changed_at", "-pk")
    last = moved.first()
    if last is not None:
        return last.to_tier.name
    later = changes.order_by("changed_at", "pk").first()
    if later is not None:
        return later.from_tier.name if later.from_tier is not None else None
    return (
        TierMembership.objects.filter(customer_id=customer_id, programme_id=programme)
        .values_list("tier__name", flat=True)
        .first()
    )


def _promotions(receipt: Receipt, currencies: dict) -> list[dict]:
    """The promotions the purchase's line rewards name, discounts first, in promotion order."""
    given: dict[tuple, Decimal] = defaultdict(Decimal)
    names: dict[int, str] = {}
    referred: set[tuple] = set()
    for reward in (
        ReceiptLineReward.objects.filter(line__receipt=receipt, refund__isnull=True)
        .select_related("promotion", "lot__account")
        .order_by("promotion_id", "pk")
    ):
        key = (reward.effect, reward.promotion_id, reward.currency_id)
        given[key] += reward.amount
        names[reward.promotion_id] = reward.promotion.name
        if reward.lot is not None and reward.lot.account.customer_id != receipt.customer_id:
            referred.add(key)
    answer = []
    for key in sorted(given, key=lambda k: (k[0] != ReceiptLineReward.Effect.DISCOUNT, k[1])):
        effect, promotion_id, currency_id = key
        entry = {"id": promotion_id, "name": names[promotion_id], "effect": effect}
        if effect == ReceiptLineReward.Effect.DISCOUNT:
            entry["amount"] = money_text(given[key])
        else:
            currency = currencies[currency_id]
            entry["amount"] = points_text(given[key], currency.decimal_places)
            entry["currency"] = currency.code
            if key in referred:
                entry["to"] = "referrer"
        answer.append(entry)
    return answer
