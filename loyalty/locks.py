"""Every multi-row lock of the loyalty app, taken in primary-key order (``crm.locks.for_update``).

Locking in one global order (by pk) means two transactions that need the same accounts
queue instead of deadlocking. ``no_key`` lets new ledger entries, whose foreign key points at
the account, be inserted while the account row is locked.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from crm.locks import for_update
from loyalty.models import (
    Account,
    Card,
    CounterValue,
    GiftCertificate,
    Receipt,
    ReceiptLine,
    TierMembership,
)


def accounts_for_update(account_ids: Iterable[int]) -> QuerySet[Account]:
    return (
        Account.objects.filter(pk__in=set(account_ids))
        .select_related("currency")
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
    )


def cards_for_update(card_ids: Iterable[int]) -> QuerySet[Card]:
    return for_update(Card.objects.filter(pk__in=set(card_ids)))


def memberships_for_update(**lookup) -> QuerySet[TierMembership]:
    """Tier memberships (``lookup``: e.g. ``customer=``) with their tiers."""
    return for_update(TierMembership.objects.select_related("tier").filter(**lookup))


def counter_values_for_update(**lookup) -> QuerySet[CounterValue]:
    return for_update(CounterValue.objects.filter(**lookup))


def certificates_for_update(rows: QuerySet[GiftCertificate]) -> QuerySet[GiftCertificate]:
    return for_update(rows)


def receipt_lines_for_update(receipt: Receipt) -> QuerySet[ReceiptLine]:
    """A receipt's lines (their pk order is their line order)."""
    return for_update(ReceiptLine.objects.filter(receipt=receipt))
