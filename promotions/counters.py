"""Step a customer's counters outside a receipt (a promotion's step, an event)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import F

from crm.models import Customer
from crm.signals import occasion_send
from loyalty.models import Counter, CounterValue
from promotions.engine import period_start


def counter_step(
    counter: Counter,
    customer: Customer,
    delta: Decimal,
    local_day: date,
    *,
    at,
    terminal=None,
) -> tuple[Decimal, Decimal, list]:
    """Add ``delta`` to the customer's value of ``counter`` in the period of ``local_day``,
    under a lock of the value's row (two events at once read and step it in turn), and send
    the ``counter`` occasion so that promotions waiting for a value are started. Returns the
    value before and after, and what the occasion's promotions gave (their firings)."""
    start = period_start(counter.period, local_day)
    value, _made = CounterValue.objects.get_or_create(
        counter=counter, customer=customer, period_start=start
    )
    before = (
        CounterValue.objects.select_for_update().values_list("value", flat=True).get(pk=value.pk)
    )
    CounterValue.objects.filter(pk=value.pk).update(value=F("value") + delta)
    after = before + delta
    firings = occasion_send(
        "counter",
        customer,
        at,
        terminal=terminal,
        counter_id=counter.pk,
        period_start=start,
        before=before,
        after=after,
    )
    return before, after, firings
