"""Row locks of the customer base, and the one way every app takes several rows' locks.

Every multi-row lock is taken in primary-key order (``for_update``): two transactions that
need the same rows queue instead of deadlocking. Each app keeps its own locks in its
``locks`` module (``loyalty.locks``, ``promotions.locks``); the order between apps is the one
the services take them in: customers, then accounts, then what hangs on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from crm.models import Consent, Customer


def for_update[M](
    rows: QuerySet[M], *, no_key: bool = False, skip_locked: bool = False
) -> QuerySet[M]:
    """``rows`` locked in pk order (only their own table's rows, whatever is joined).
    ``no_key``: a lock that lets rows naming them by foreign key be written meanwhile."""
    return rows.order_by("pk").select_for_update(
        no_key=no_key, skip_locked=skip_locked, of=("self",)
    )


def customers_for_update(customer_ids: Iterable[int]) -> QuerySet[Customer]:
    """Customers whose accounts a merge moves: ``no_key``, as a purchase holding their
    accounts writes rows naming them."""
    return for_update(Customer.objects.filter(pk__in=set(customer_ids)), no_key=True)


def consents_for_update(customer: Customer) -> QuerySet[Consent]:
    return for_update(Consent.objects.filter(customer=customer))
