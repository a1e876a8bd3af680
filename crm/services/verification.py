"""Verify a customer's phone by a one-time code (SMS) and their email by a signed link.

``verification_start`` stores a ``ContactVerification`` with only a keyed hash of its secret and
hands the plain code or link to ``crm.signals.contact_verification_started``, whose receiver
(the outbox, in communications) queues the message in the same transaction: either both are
written or neither. ``verification_confirm_code`` and ``verification_confirm_link`` set the
customer's ``phone_verified`` / ``email_verified`` when the secret matches the newest, unexpired,
unlocked verification and the customer's contact is still the address it was sent to. The
change of the flag is a change of the customer, recorded by the audit trail.

Every refusal is a named ``crm.errors.VerificationError``. A wrong code counts as an attempt
even though it raises: the count is committed before the error leaves the service.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from crm.errors import (
    VerificationAddressChanged,
    VerificationAlreadyUsed,
    VerificationCodeWrong,
    VerificationError,
    VerificationExpired,
    VerificationLinkInvalid,
    VerificationLocked,
    VerificationNoAddress,
    VerificationNotFound,
    VerificationRateLimited,
    VerificationSuperseded,
    VerificationUndeliverable,
)
from crm.locks import for_update
from crm.models import ContactVerification, Customer
from crm.signals import contact_verification_started

Channel = ContactVerification.Channel
CODE_DIGITS = 6
HASH_SALT = "crm.contact-verification.secret"
LINK_SALT = "crm.contact-verification.email-link"
# The contact each channel verifies, and the customer's flag a success sets.
ADDRESS_FIELD: dict[str, str] = {Channel.SMS: "phone", Channel.EMAIL: "email"}
FLAG_FIELD: dict[str, str] = {Channel.SMS: "phone_verified", Channel.EMAIL: "email_verified"}


def _lifetime(channel: str) -> timedelta:
    if channel == Channel.SMS:
        return timedelta(minutes=settings.CONTACT_VERIFICATION_SMS_MINUTES)
    return timedelta(hours=settings.CONTACT_VERIFICATION_EMAIL_HOURS)


def _secret_hash(customer_id: int, channel: str, secret: str) -> str:
    # Keyed by SECRET_KEY: a copy of the table alone cannot be tried against the 10^6 codes.
    return salted_hmac(
        HASH_SALT, f"{customer_id}:{channel}:{secret}", algorithm="sha256"
    ).hexdigest()


def _customer_locked(customer: Customer) -> Customer:
    return for_update(Customer.objects.filter(pk=customer.pk)).get()


def _link_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def verification_link_base(request_base: str = "") -> str:
    """Where the email links point: ``PUBLIC_BASE_URL`` if set, else ``request_base`` (the
    address of the back office page that sends them)."""
    base = settings.PUBLIC_BASE_URL or request_base
    if not base:
        raise ValueError("Set PUBLIC_BASE_URL: an email link must be an absolute address")
    return base.rstrip("/")


def verification_start(
    *, customer: Customer, channel: str, user=None, link_base: str = ""
) -> ContactVerification:
    """Send a new code (``sms``) or link (``email``) to the customer's current phone or email.

    Supersedes the customer's previous verification of the channel: only the newest can be
    confirmed. ``link_base``: the site's address for the email link when ``PUBLIC_BASE_URL`` is
    not set. Raises ``VerificationNoAddress`` (no phone / email, or anonymised),
    ``VerificationRateLimited`` (``CONTACT_VERIFICATION_MAX_PER_HOUR`` sent in the last hour,
    both channels together) and ``VerificationUndeliverable`` (no outbox queued the message);
    ``ValueError`` for an unknown channel. Nothing is written on error.
    """
    if channel not in Channel.values:
        raise ValueError(f"Unknown verification channel {channel!r}")
    base = verification_link_base(link_base) if channel == Channel.EMAIL else ""
    with transaction.atomic():
        customer = _customer_locked(customer)  # serialises the count and the supersede
        address = getattr(customer, ADDRESS_FIELD[channel])
        if customer.is_anonymised or not address:
            raise VerificationNoAddress(channel=channel)
        now = timezone.now()
        sent = ContactVerification.objects.filter(
            customer=customer, created_at__gt=now - timedelta(hours=1)
        ).count()
        if sent >= settings.CONTACT_VERIFICATION_MAX_PER_HOUR:
            raise VerificationRateLimited(sent=sent)
        ContactVerification.objects.filter(
            customer=customer, channel=channel, superseded_at__isnull=True
        ).update(superseded_at=now)
        if channel == Channel.SMS:
            secret = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        else:
            secret = secrets.token_urlsafe(24)
        verification = ContactVerification.objects.create(
            customer=customer,
            channel=channel,
            address=address,
            secret_hash=_secret_hash(customer.pk, channel, secret),
            created_at=now,
            expires_at=now + _lifetime(channel),
            started_by=user if getattr(user, "is_authenticated", False) else None,
        )
        code = link = None
        if channel == Channel.SMS:
            code = secret
        else:
            token = _link_signer().sign_object({"v": verification.pk, "s": secret})
            link = base + reverse("verify:email", args=[token])
        answers = contact_verification_started.send(
            sender=ContactVerification, verification=verification, code=code, link=link
        )
        if len([answer for _receiver, answer in answers if answer is not None]) != 1:
            raise VerificationUndeliverable()
    return verification


Outcome = ContactVerification | VerificationError


def _verified(customer: Customer, verification: ContactVerification, now) -> Outcome:
    """Mark ``verification`` used and the customer's contact verified, if it is still the
    address the secret went to (else ``VerificationAddressChanged``, returned)."""
    channel = verification.channel
    if getattr(customer, ADDRESS_FIELD[channel]) != verification.address:
        return VerificationAddressChanged()
    verification.verified_at = now
    verification.save(update_fields=["verified_at"])
    flag = FLAG_FIELD[channel]
    if not getattr(customer, flag):
        setattr(customer, flag, True)
        customer.save(update_fields=[flag, "updated_at"])
    return verification


def _raise_or_return(outcome: Outcome) -> ContactVerification:
    if isinstance(outcome, VerificationError):
        raise outcome
    return outcome


def verification_confirm_code(
    *, customer: Customer, channel: str, code: str
) -> ContactVerification:
    """Confirm the newest verification of ``customer``'s ``channel`` with the code they read out.

    Raises ``VerificationNotFound`` (none sent), ``VerificationAlreadyUsed``,
    ``VerificationLocked`` (too many wrong codes: the last wrong one raises it too),
    ``VerificationExpired``, ``VerificationSuperseded`` (the code of an older one),
    ``VerificationCodeWrong`` (with ``attempts_left``) and ``VerificationAddressChanged``.
    A wrong code is counted before the error is raised; the code is compared in constant time.
    """
    with transaction.atomic():
        outcome = _confirm_code(customer, channel, "".join((code or "").split()))
    return _raise_or_return(outcome)


def _confirm_code(customer: Customer, channel: str, code: str) -> Outcome:
    customer = _customer_locked(customer)
    current = (
        ContactVerification.objects.select_for_update()
        .filter(customer=customer, channel=channel, superseded_at__isnull=True)
        .first()
    )
    if current is None:
        return VerificationNotFound(channel=channel)
    if current.verified_at is not None:
        return VerificationAlreadyUsed()
    if current.is_locked:
        return VerificationLocked()
    now = timezone.now()
    if current.is_expired(now):
        return VerificationExpired()
    given = _secret_hash(customer.pk, channel, code)
    if constant_time_compare(given, current.secret_hash):
        return _verified(customer, current, now)
    current.attempts += 1
    current.save(update_fields=["attempts"])
    if current.is_locked:
        return VerificationLocked()
    older = ContactVerification.objects.filter(
        customer=customer, channel=channel, superseded_at__isnull=False, expires_at__gt=now
    ).values_list("secret_hash", flat=True)
    if any(constant_time_compare(given, old) for old in older):
        return VerificationSuperseded()
    left = settings.CONTACT_VERIFICATION_MAX_ATTEMPTS - current.attempts
    return VerificationCodeWrong(attempts_left=left)


def verification_link_read(token: str) -> ContactVerification:
    """The verification an email link names, without changing anything (the page a link opens
    shows it before the customer confirms). Raises ``VerificationLinkInvalid`` (forged,
    truncated, or its verification gone) and ``VerificationExpired``."""
    try:
        payload = _link_signer().unsign_object(
            token, max_age=timedelta(hours=settings.CONTACT_VERIFICATION_EMAIL_HOURS)
        )
    except signing.SignatureExpired:
        raise VerificationExpired() from None
    except (signing.BadSignature, ValueError):
        raise VerificationLinkInvalid() from None
    if not isinstance(payload, dict):
        raise VerificationLinkInvalid()
    pk, secret = payload.get("v"), payload.get("s")
    if not isinstance(pk, int) or not isinstance(secret, str):
        raise VerificationLinkInvalid()
    verification = ContactVerification.objects.filter(pk=pk, channel=Channel.EMAIL).first()
    if verification is None or not constant_time_compare(
        _secret_hash(verification.customer_id, Channel.EMAIL, secret), verification.secret_hash
    ):
        raise VerificationLinkInvalid()
    return verification


def verification_confirm_link(token: str) -> ContactVerification:
    """Confirm the email verification an email link carries (the page's POST, never its GET).

    Raises what ``verification_link_read`` raises, and ``VerificationAlreadyUsed``,
    ``VerificationSuperseded``, ``VerificationExpired`` and ``VerificationAddressChanged``.
    """
    found = verification_link_read(token)
    with transaction.atomic():
        outcome = _confirm_link(found)
    return _raise_or_return(outcome)


def _confirm_link(found: ContactVerification) -> Outcome:
    customer = _customer_locked(found.customer)
    verification = ContactVerification.objects.select_for_update().get(pk=found.pk)
    if verification.verified_at is not None:
        return VerificationAlreadyUsed()
    if verification.superseded_at is not None:
        return VerificationSuperseded()
    now = timezone.now()
    if verification.is_expired(now):
        return VerificationExpired()
    return _verified(customer, verification, now)


def verifications_current(customer: Customer) -> dict[str, ContactVerification | None]:
    """The newest verification of each channel (None where none was sent), for the pages."""
    rows = ContactVerification.objects.filter(customer=customer, superseded_at__isnull=True)
    found = {row.channel: row for row in rows}
    return {channel: found.get(channel) for channel in Channel.values}
