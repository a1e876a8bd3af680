"""Every row lock of the loyalty app, taken in primary-key order.

Locking in one global order (by pk) means two transactions that need the same accounts
queue instead of deadlocking. ``no_key`` lets new ledger entries, whose foreign key points at
the account, be inserted while the account row is locked.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from loyalty.models import Account


def accounts_for_update(account_ids: Iterable[int]) -> QuerySet[Account]:
    return (
        Account.objects.filter(pk__in=set(account_ids))
        .select_related("currency")
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
    )
