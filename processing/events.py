"""Events of a customer's life reported by an external system (``POST /api/v1/events``).

An event is recorded once per terminal and ``event_id``: a retry with the same body gets the
first answer again, another body under the same id is a conflict, and two copies racing are
recorded once (the unique key decides; the loser replays the winner's answer). Recording it
steps the counters of events of its type and sends the ``event`` occasion, all in one
transaction: the promotions it starts reward it with it, or nothing happens.
"""

from __future__ import annotations

import hashlib
import json
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Customer
from crm.selectors import customer_get_by_phone
from crm.signals import occasion_send
from loyalty.errors import (
    CardBlocked,
    CardNotFound,
    CardWithoutCustomer,
    CustomerNotFound,
    EventConflict,
    EventTimeOutOfWindow,
    EventTypeUnknown,
)
from loyalty.models import Card, Counter, CustomerEvent, EventType, LedgerEntry, Terminal
from loyalty.money import quantize
from promotions.counters import counter_step
from promotions.rules.snapshot import snapshot_get

# How far in the future an event's time may be (clocks of external systems drift).
FUTURE_TOLERANCE = timedelta(minutes=5)
DEFAULT_WINDOW_DAYS = 30


def _fingerprint(**body) -> str:
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(event: CustomerEvent, fingerprint: str) -> dict:
    if event.fingerprint != fingerprint:
        raise EventConflict(event_id=event.event_id)
    return event.result


def _customer(card: str | None, phone: str | None) -> Customer:
    if card:
        found = Card.objects.select_related("customer").filter(number=card).first()
        if found is None:
            raise CardNotFound(card=card)
        if found.status in (Card.Status.BLOCKED, Card.Status.LOST, Card.Status.REPLACED):
            raise CardBlocked(card=card)
        customer = found.customer
        if customer is None:
            raise CardWithoutCustomer(card=card)
    else:
        customer = customer_get_by_phone(phone)
        if customer is None:
            raise CustomerNotFound()
    if customer.is_anonymised:
        raise CustomerNotFound()
    return customer


def event_record(
    terminal: Terminal,
    *,
    event_id: str,
    type_code: str,
    card: str | None = None,
    phone: str | None = None,
    occurred_at: datetime | None = None,
    attributes: dict | None = None,
) -> tuple[dict, bool]:
    """Record an event; return the answer and whether it was recorded now (False: a replay).

    Raises ``EventConflict`` (the id was used with another body), ``EventTypeUnknown``,
    ``CardNotFound``, ``CardBlocked``, ``CustomerNotFound``, ``EventTimeOutOfWindow``.
    Nothing is written on error.
    """
    attributes = attributes or {}
    fingerprint = _fingerprint(
        event_id=event_id,
        type=type_code,
        card=card,
        phone=phone,
        occurred_at=occurred_at.isoformat() if occurred_at else None,
        attributes=attributes,
    )
    found = CustomerEvent.objects.filter(terminal=terminal, event_id=event_id).first()
    if found is not None:
        return _replay(found, fingerprint), False
    event_type = EventType.objects.filter(code=type_code, is_active=True).first()
    if event_type is None:
        raise EventTypeUnknown(type=type_code)
    customer = _customer(card, phone)
    now = timezone.now()
    at = occurred_at or now
    programme = snapshot_get().programme_for(terminal.store.partner_id)
    window = timedelta(days=programme.offline_window_days if programme else DEFAULT_WINDOW_DAYS)
    if at > now + FUTURE_TOLERANCE or at < now - window:
        raise EventTimeOutOfWindow(datetime=at.isoformat())
    try:
        with transaction.atomic():
            event = CustomerEvent.objects.create(
                terminal=terminal,
                partner_id=terminal.store.partner_id,
                event_id=event_id,
                type=event_type,
                customer=customer,
                occurred_at=at,
                attributes=attributes,
                fingerprint=fingerprint,
                received_at=now,
            )
            result = _apply(event, terminal)
            CustomerEvent.objects.filter(pk=event.pk).update(result=result)
    except IntegrityError:
        found = CustomerEvent.objects.filter(terminal=terminal, event_id=event_id).first()
        if found is None:
            raise
        return _replay(found, fingerprint), False
    return result, True


def _apply(event: CustomerEvent, terminal: Terminal) -> dict:
    customer = event.customer
    local_day = timezone.localtime(
        event.occurred_at, zoneinfo.ZoneInfo(terminal.store.timezone)
    ).date()
    counters = []
    firings = []
    for counter in Counter.objects.filter(
        unit=Counter.Unit.EVENTS, event_type=event.type, is_active=True
    ).order_by("pk"):
        _before, after, fired = counter_step(
            counter, customer, Decimal(1), local_day, at=event.occurred_at, terminal=terminal
        )
        counters.append({"counter": counter.code, "value": _number(after)})
        firings += fired
    firings += occasion_send("event", customer, event.occurred_at, terminal=terminal, event=event)
    return {
        "event_id": event.event_id,
        "type": event.type.code,
        "status": "accepted",
        "customer": {"id": customer.public_id},
        "occurred_at": event.occurred_at.isoformat(),
        "counters": counters,
        "rewards": _rewards(firings),
    }


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _rewards(firings) -> list[dict]:
    """What the promotions gave for the occasion (and the counters it stepped)."""
    rewards = []
    for firing in firings:
        entries = LedgerEntry.objects.filter(
            posting__cause_ref=f"promotion:{firing.promotion_id}:{firing.key}"[:128],
            account__kind="customer",
        ).select_related("account__currency", "account__customer")
        points = [
            {
                "currency": entry.account.currency.code,
                "amount": str(quantize(entry.amount, entry.account.currency.decimal_places)),
                "to": "customer" if entry.account.customer_id == firing.customer_id else "referrer",
            }
            for entry in entries
        ]
        rewards.append(
            {"promotion": firing.promotion_id, "name": firing.promotion.name, "points": points}
        )
    return rewards
