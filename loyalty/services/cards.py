"""Cards at the register: issue a virtual card, bind a plastic one, register a customer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Customer
from crm.services import customer_create, profile_answers_set
from crm.signals import occasion_send
from loyalty.errors import CardAlreadyBound, CardBlocked, CardNotFound, NoProgramme
from loyalty.models import Card, CardBatch, CardType, Programme, Terminal
from loyalty.signals import customer_registered
from loyalty.validators import ean13_check_digit

# Virtual cards are EAN-13 numbers starting with this prefix, in one batch per programme.
VIRTUAL_PREFIX = "2990"
VIRTUAL_NUMBER_TRIES = 20
UNUSABLE_STATUSES = (Card.Status.BLOCKED, Card.Status.LOST, Card.Status.REPLACED)


@dataclass(frozen=True)
class Registration:
    customer: Customer
    card: Card


def terminal_programme(terminal: Terminal) -> Programme:
    """The programme a terminal's sales belong to: its partner's own, else the coalition's."""
    partner_id = terminal.store.partner_id
    active = Programme.objects.filter(is_active=True).order_by("pk")
    programme = (
        active.filter(partner_id=partner_id).first() or active.filter(partner__isnull=True).first()
    )
    if programme is None:
        raise NoProgramme()
    return programme


def _virtual_batch(programme: Programme) -> CardBatch:
    code = f"VIRTUAL-{programme.code}"[:64]
    batch, _created = CardBatch.objects.get_or_create(
        code=code,
        defaults={
            "programme": programme,
            "name": f"Virtual cards: {programme.name}"[:200],
            "card_type": CardType.LOYALTY,
            "source": CardBatch.Source.VIRTUAL,
            "prefix": VIRTUAL_PREFIX,
            "number_length": 13,
            "check_digit": CardBatch.CheckDigit.EAN13,
        },
    )
    return batch


def _virtual_number() -> str:
    payload = VIRTUAL_PREFIX + f"{secrets.randbelow(10**8):08d}"
    return payload + ean13_check_digit(payload)


@transaction.atomic
def card_virtual_issue(*, customer: Customer, programme: Programme) -> Card:
    """Issue an active virtual card of ``programme`` to ``customer`` and return it.

    Numbers are random EAN-13s under ``VIRTUAL_PREFIX``; a number taken by another card is
    drawn again (the unique index decides, so concurrent issues never share a number).
    """
    batch = _virtual_batch(programme)
    now = timezone.now()
    for _attempt in range(VIRTUAL_NUMBER_TRIES):
        number = _virtual_number()
        if Card.objects.filter(number=number).exists():
            continue
        try:
            with transaction.atomic():
                return Card.objects.create(
                    number=number,
                    card_type=CardType.LOYALTY,
                    status=Card.Status.ACTIVE,
                    programme=programme,
                    batch=batch,
                    customer=customer,
                    is_virtual=True,
                    issued_at=now,
                    activated_at=now,
                )
        except IntegrityError:
            continue
    raise RuntimeError("no free virtual card number after several draws")  # pragma: no cover


@transaction.atomic
def card_bind(*, card_number: str, customer: Customer) -> Card:
    """Give the unbound card ``card_number`` to ``customer`` and make it active.

    Raises ``CardNotFound``, ``CardBlocked`` (blocked, lost or replaced) and
    ``CardAlreadyBound`` (it belongs to someone, including this customer).
    """
    card = Card.objects.select_for_update().filter(number=card_number).first()
    if card is None:
        raise CardNotFound(card=card_number)
    if card.status in UNUSABLE_STATUSES:
        raise CardBlocked(card=card_number, card_status=card.status)
    if card.customer_id is not None:
        raise CardAlreadyBound(card=card_number)
    now = timezone.now()
    card.customer = customer
    card.status = Card.Status.ACTIVE
    card.issued_at = card.issued_at or now
    card.activated_at = card.activated_at or now
    card.save(update_fields=["customer", "status", "issued_at", "activated_at"])
    return card


@transaction.atomic
def customer_register(
    *,
    terminal: Terminal,
    phone: str,
    first_name: str,
    last_name: str = "",
    email: str | None = None,
    birth_date: date | None = None,
    card_number: str | None = None,
    referral_code: str | None = None,
    consents: dict[str, bool] | None = None,
    profile: dict[str, object] | None = None,
) -> Registration:
    """Register a customer at ``terminal`` with the card they were handed, or a virtual one,
    and their answers to the questionnaire (``profile``: by question code).

    Raises what ``customer_create`` raises (``CustomerExists`` carrying the customer who has
    the phone, ``EmailTaken``, ``ReferralCodeUnknown``...), what ``card_bind`` raises and the
    ``ValidationError`` of ``profile_answers_set``; nothing is written on error.
    ``customer_registered`` is sent after the commit.
    """
    customer = customer_create(
        phone=phone,
        email=email,
        first_name=first_name,
        last_name=last_name,
        birth_date=birth_date,
        source=_source(terminal),
        source_detail=f"{terminal.store.name} / {terminal.code}"[:200],
        referral_code_used=referral_code,
        consents=consents,
        consent_source=f"terminal {terminal.code}",
        terminal=terminal,
        announce=False,
    )
    if card_number:
        card = card_bind(card_number=card_number, customer=customer)
    else:
        card = card_virtual_issue(customer=customer, programme=terminal_programme(terminal))
    if profile:
        # Once the card is the customer's: a complete profile may be an occasion to reward.
        profile_answers_set(customer=customer, answers=profile)
    # Welcome and referral rewards, in this transaction, once the card is the customer's.
    occasion_send("registration", customer, customer.registered_at, terminal=terminal)
    referrer = customer.referrer
    transaction.on_commit(
        lambda: customer_registered.send(
            sender=Customer, customer=customer, card=card, terminal=terminal, referrer=referrer
        )
    )
    return Registration(customer=customer, card=card)


def _source(terminal: Terminal) -> str:
    channel = terminal.store.channel
    if channel == terminal.store.Channel.WEBSHOP:
        return Customer.Source.WEBSHOP
    if channel == terminal.store.Channel.APP:
        return Customer.Source.APP
    return Customer.Source.POS
