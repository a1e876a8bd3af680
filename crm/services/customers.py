"""Register and change customers. Every write of a customer's identity goes through here."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.contacts import normalize_email, normalize_phone_or_none
from crm.errors import (
    CustomerExists,
    EmailTaken,
    InvalidBirthDate,
    OwnReferrer,
    ReferralCodeTaken,
    ReferralCodeUnknown,
)
from crm.models import Consent, Customer
from crm.models.customers import CONTACT_FLAGS
from crm.selectors import phone_parse
from crm.services.profile import profile_check
from crm.signals import occasion_send

MIN_BIRTH_DATE = date(1900, 1, 1)
NAME_FIELDS = ("first_name", "middle_name", "last_name")
EDITABLE_FIELDS = {
    "referrer",
    "referral_code",
    "source",
    "source_detail",
    "registered_at",
    "first_name",
    "middle_name",
    "last_name",
    "phone",
    "email",
    "birth_date",
    "gender",
    "phone_verified",
    "email_verified",
    "comment",
}


def _require_aware(name: str, value: datetime | None) -> None:
    # A naive datetime would be read in the server's zone; callers must say which zone they mean.
    if value is not None and timezone.is_naive(value):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def customer_phone_check(phone: str | None, *, exclude: Customer | None = None) -> str | None:
    """Return the phone in E.164 (None for none).

    Raises ``ValidationError`` (``invalid_phone``) for something that is not a phone number and
    ``CustomerExists`` if another customer has the number, in whatever notation it was typed.
    """
    normalized = normalize_phone_or_none(phone)
    if normalized is None:
        return None
    owner = Customer.objects.filter(phone=normalized)
    if exclude is not None:
        owner = owner.exclude(pk=exclude.pk)
    existing = owner.first()
    if existing is not None:
        raise CustomerExists(existing)
    return normalized


def customer_email_check(email: str | None, *, exclude: Customer | None = None) -> str | None:
    """Return the email stripped and lower-cased (None for none); raise ``EmailTaken``."""
    cleaned = normalize_email(email)
    if cleaned is None:
        return None
    taken = Customer.objects.filter(email__iexact=cleaned)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise EmailTaken(email=cleaned)
    return cleaned


def customer_referral_code_check(
    code: str | None, *, exclude: Customer | None = None
) -> str | None:
    """Return the referral code stripped and upper-cased (None for none); raise ``ReferralCodeTaken``."""
    if code is None or not code.strip():
        return None
    cleaned = code.strip().upper()
    taken = Customer.objects.filter(referral_code__iexact=cleaned)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ReferralCodeTaken(referral_code=cleaned)
    return cleaned


def customer_birth_date_check(birth_date: date | None) -> None:
    """Raise ``InvalidBirthDate`` for a date before 1900-01-01 or after today (local date)."""
    if birth_date is not None and not (MIN_BIRTH_DATE <= birth_date <= timezone.localdate()):
        raise InvalidBirthDate(birth_date=str(birth_date))


def customer_referrer_find(code_or_phone: str) -> Customer:
    """Find the customer a newcomer names as a friend: by referral code, or by phone number.

    Raises ``ReferralCodeUnknown`` when neither matches a customer (anonymised ones never do).
    """
    text = (code_or_phone or "").strip()
    active = Customer.objects.filter(is_anonymised=False)
    referrer = active.filter(referral_code__iexact=text).first() if text else None
    if referrer is None:
        phone = phone_parse(text)
        if phone is not None:
            referrer = active.filter(phone=phone).first()
    if referrer is None:
        raise ReferralCodeUnknown(code=text)
    return referrer


@transaction.atomic
def customer_create(
    *,
    phone: str | None = None,
    email: str | None = None,
    first_name: str = "",
    last_name: str = "",
    middle_name: str = "",
    birth_date: date | None = None,
    gender: str = Customer.Gender.UNKNOWN,
    source: str = Customer.Source.POS,
    source_detail: str = "",
    referral_code_used: str | None = None,
    consents: dict[str, bool] | None = None,
    consent_source: str = "",
    consent_text_version: str = "",
    registered_at: datetime | None = None,
    terminal=None,
    announce: bool = True,
) -> Customer:
    """Register a customer, with the referrer they name and the consents they gave.

    ``terminal``: the register it happened at, if any (a promotion for registrations at some
    stores looks at it). The ``registration`` occasion is sent in the same transaction, after
    the consents, so welcome and referral rewards commit or roll back with the registration;
    ``announce=False`` leaves it to the caller (who binds a card first).

    Raises ``CustomerExists`` (carrying that customer) when the phone, in any notation, already
    belongs to someone; ``EmailTaken``, ``ReferralCodeUnknown``, ``InvalidBirthDate``; and
    Django's ``ValidationError`` for a malformed phone or email or an unknown consent channel.
    Nothing is written on error.
    """
    _require_aware("registered_at", registered_at)
    customer = Customer(
        phone=customer_phone_check(phone),
        email=customer_email_check(email),
        first_name=first_name.strip(),
        middle_name=middle_name.strip(),
        last_name=last_name.strip(),
        birth_date=birth_date,
        gender=gender,
        source=source,
        source_detail=source_detail.strip(),
        registered_at=registered_at or timezone.now(),
    )
    customer_birth_date_check(birth_date)
    if referral_code_used:
        customer.referrer = customer_referrer_find(referral_code_used)
    customer.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        # Two registrations of one phone at the same moment: the loser sees the winner.
        existing = Customer.objects.filter(phone=customer.phone).first() if customer.phone else None
        if existing is not None:
            raise CustomerExists(existing) from None
        raise
    for channel, is_granted in (consents or {}).items():
        consent_set(
            customer=customer,
            channel=channel,
            is_granted=is_granted,
            source=consent_source or source,
            text_version=consent_text_version,
            at=customer.registered_at,
            terminal=terminal,
        )
    if announce:
        occasion_send("registration", customer, customer.registered_at, terminal=terminal)
    profile_check(customer)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **fields) -> Customer:
    """Change a customer's identity fields with the same checks as ``customer_create``.

    Only the fields that really change are saved (``update_fields``). A phone or email that
    changes is saved unverified: ``phone_verified`` / ``email_verified`` in the same call are
    ignored then (only ``crm.services.verification`` proves the new address). Raises ``CustomerExists``,
    ``EmailTaken``, ``ReferralCodeTaken``, ``OwnReferrer``, ``InvalidBirthDate`` and Django's
    ``ValidationError``; ``TypeError`` for a field that is not editable this way.
    """
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"customer_update() cannot change {sorted(unknown)}")
    if "phone" in fields:
        fields["phone"] = customer_phone_check(fields["phone"], exclude=customer)
    if "email" in fields:
        fields["email"] = customer_email_check(fields["email"], exclude=customer)
    if "referral_code" in fields:
        fields["referral_code"] = customer_referral_code_check(
            fields["referral_code"], exclude=customer
        )
    if "birth_date" in fields:
        customer_birth_date_check(fields["birth_date"])
    if "registered_at" in fields:
        _require_aware("registered_at", fields["registered_at"])
    for name in (*NAME_FIELDS, "source_detail"):
        if fields.get(name) is not None:
            fields[name] = fields[name].strip()
    referrer = fields.get("referrer")
    if referrer is not None and customer.pk is not None and referrer.pk == customer.pk:
        raise OwnReferrer()
    for field, flag in CONTACT_FLAGS.items():
        if field in fields and fields[field] != getattr(customer, field):
            fields[flag] = False
    changed = [name for name, value in fields.items() if getattr(customer, name) != value]
    for name in changed:
        setattr(customer, name, fields[name])
    if changed:
        customer.full_clean(validate_unique=False)
        customer.save(update_fields=[*changed, "updated_at"])
        profile_check(customer)
    return customer


@transaction.atomic
def consent_set(
    *,
    customer: Customer,
    channel: str,
    is_granted: bool,
    source: str = "",
    text_version: str = "",
    at: datetime | None = None,
    terminal=None,
) -> Consent:
    """Record that a customer granted or withdrew a channel's consent, and when.

    Granting sets ``granted_at`` (an earlier ``revoked_at`` stays as history); withdrawing sets
    ``revoked_at`` and keeps ``granted_at``. Repeating the current state changes nothing, except
    a grant of a new consent text version, which is a new grant. Raises ``ValidationError``
    (``invalid_channel``) for an unknown channel.
    """
    if channel not in Consent.Channel.values:
        raise ValidationError(
            {
                "channel": ValidationError(
                    _("Unknown consent channel “%(channel)s”; use one of: %(channels)s.")
                    % {"channel": channel, "channels": ", ".join(Consent.Channel.values)},
                    code="invalid_channel",
                )
            }
        )
    _require_aware("at", at)
    at = at or timezone.now()
    consent, _created = Consent.objects.select_for_update().get_or_create(
        customer=customer, channel=channel
    )
    unchanged = consent.is_granted == is_granted and (consent.granted_at or consent.revoked_at)
    new_text = is_granted and text_version and text_version != consent.text_version
    if unchanged and not new_text:
        return consent  # nothing changed: keep the original timestamps
    consent.is_granted = is_granted
    if is_granted:
        consent.granted_at = at
    else:
        consent.revoked_at = at
    consent.source = source or consent.source
    consent.text_version = text_version or consent.text_version
    consent.save(update_fields=["is_granted", "granted_at", "revoked_at", "source", "text_version"])
    if is_granted:
        occasion_send("consent", customer, at, terminal=terminal, channel=channel)
    return consent
