"""Reads of the processing core that several callers need (the POS API, the operator console)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Prefetch
from django.utils import timezone

from crm.models import Customer
from loyalty.models import Account, Card, Lot, Tier, TierMembership
from loyalty.money import ZERO, quantize

# "Expiring soon" in the card summary: active points whose lot expires within this window.
EXPIRING_WINDOW = timedelta(days=30)
# The card a customer is shown with when none was named: the most usable one first.
CARD_PREFERENCE = (Card.Status.ACTIVE, Card.Status.ISSUED)


def card_get(number: str) -> Card | None:
    """The card with this exact number, with its holder, or None."""
    return Card.objects.select_related("customer").filter(number=number).first()


def card_summary(card: Card) -> dict:
    """The card summary of pos-api.md for ``card``: its status, its holder and their balances.

    A card that belongs to nobody yet has ``customer`` null and no balances.
    """
    customer = card.customer if card.customer_id else None
    return _summary(card, customer)


def customer_summary(customer: Customer, card: Card | None = None) -> dict:
    """The card summary of pos-api.md for ``customer``, shown with ``card`` or their best card.

    The best card is an active one, else an issued one, the newest first; ``card`` is null
    for a customer without a usable card.
    """
    if card is None:
        card = customer_card_get(customer)
    return _summary(card, customer)


def customer_card_get(customer: Customer) -> Card | None:
    """The card a register should use for ``customer``: active before issued, newest first."""
    cards = list(
        Card.objects.filter(customer=customer, status__in=CARD_PREFERENCE).order_by(
            "-created_at", "-pk"
        )
    )
    for status in CARD_PREFERENCE:
        for card in cards:
            if card.status == status:
                return card
    return None


def _summary(card: Card | None, customer: Customer | None) -> dict:
    return {
        "card": (
            {"number": card.number, "status": card.status, "type": card.card_type}
            if card is not None
            else None
        ),
        "customer": _customer_part(customer, card) if customer is not None else None,
        "balances": customer_balances(customer) if customer is not None else [],
    }


def _customer_part(customer: Customer, card: Card | None) -> dict:
    return {
        "id": customer.public_id,
        "first_name": customer.first_name,
        "tier": _tier_name(customer, card.programme_id if card is not None else None),
        "referral_code": customer.referral_code,
    }


def _tier_name(customer: Customer, programme_id: int | None) -> str | None:
    """The tier in the card's programme, else in the coalition programme, else any."""
    memberships = list(
        TierMembership.objects.filter(customer=customer)
        .select_related("tier", "programme")
        .order_by("pk")
    )
    if not memberships:
        # No purchase has moved them yet: they stand in the programme's entry tier (rank 1).
        entry = Tier.objects.filter(programme_id=programme_id).order_by("threshold").first()
        return entry.name if entry is not None and programme_id is not None else None
    preferred = [m for m in memberships if m.programme_id == programme_id] or [
        m for m in memberships if m.programme.partner_id is None
    ]
    return (preferred or memberships)[0].tier.name


def customer_balances(customer: Customer, *, now=None) -> list[dict]:
    """One entry per currency the customer holds: active, pending, held and expiring soon.

    Amounts are strings with the currency's decimal places. ``expiring`` lists, by the last
    day they can be spent (``_last_day``), what is left of the active lots that expire within
    ``EXPIRING_WINDOW``.
    """
    now = now or timezone.now()
    expiring_lots = (
        Lot.objects.spendable(now)
        .filter(expires_at__lte=now + EXPIRING_WINDOW)
        .select_related("receipt__store", "entry__posting__terminal__store")
        .only(
            "account_id",
            "remaining",
            "expires_at",
            "receipt__store__timezone",
            "entry__posting__terminal__store__timezone",
        )
    )
    accounts = (
        Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=customer)
        .select_related("currency")
        .prefetch_related(Prefetch("lots", queryset=expiring_lots, to_attr="expiring_lots"))
        .order_by("currency__code")
    )
    balances = []
    for account in accounts:
        places = account.currency.decimal_places
        by_date: dict[date, Decimal] = defaultdict(lambda: ZERO)
        for lot in account.expiring_lots:
            by_date[_last_day(lot)] += lot.remaining
        balances.append(
            {
                "currency": account.currency.code,
                "active": _amount(account.balance, places),
                "pending": _amount(account.pending, places),
                "held": _amount(account.held, places),
                "expiring": [
                    {"amount": _amount(amount, places), "date": day.isoformat()}
                    for day, amount in sorted(by_date.items())
                ],
            }
        )
    return balances


def _last_day(lot: Lot) -> date:
    """The last day the lot's points can be spent: the day of the last moment before they
    expire, on the clock of the store that gave them (else the programme's, ``TIME_ZONE``).
    Points given until 27 December expire at the midnight that starts the 28th."""
    posting = lot.entry.posting
    store = lot.receipt.store if lot.receipt_id else None
    if store is None and posting.terminal_id:
        store = posting.terminal.store
    zone = ZoneInfo(store.timezone) if store is not None else timezone.get_default_timezone()
    return (lot.expires_at - timedelta(microseconds=1)).astimezone(zone).date()


def _amount(value: Decimal, places: int) -> str:
    return str(quantize(value, places))
