"""Customers (cardholders), their consents and how they joined."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.contacts import normalize_email, normalize_phone_or_none

PUBLIC_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
REFERRAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


def new_public_id() -> str:
    """An opaque id for the API (``c_`` + 12 base32 characters, 60 bits)."""
    return "c_" + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(12))


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


# A contact field and the flag that says it was verified (crm.services.verification).
CONTACT_FLAGS = {"phone": "phone_verified", "email": "email_verified"}


class Customer(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "unknown", _("not stated")
        FEMALE = "female", _("female")
        MALE = "male", _("male")

    class Source(models.TextChoices):
        POS = "pos", _("cash register")
        WEBSHOP = "webshop", _("webshop")
        APP = "app", _("mobile app")
        WEBSITE = "website", _("website")
        OPERATOR = "operator", _("call centre")
        IMPORT = "import", _("import")
        DEMO = "demo", _("demo data")

    public_id = models.CharField(
        _("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(
        _("phone"),
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        help_text=_("E.164, e.g. +79001234567."),
    )
    email = models.EmailField(_("email"), null=True, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(
        _("gender"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN
    )
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)
    source = models.CharField(
        _("registration source"), max_length=16, choices=Source.choices, default=Source.POS
    )
    source_detail = models.CharField(
        _("registered where"),
        max_length=200,
        blank=True,
        help_text=_("Store, terminal or operator."),
    )
    referral_code = models.CharField(
        _("referral code"),
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        default=new_referral_code,
    )
    referrer = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
    )
    phone_verified = models.BooleanField(_("phone verified"), default=False)
    email_verified = models.BooleanField(_("email verified"), default=False)
    is_anonymised = models.BooleanField(_("anonymised"), default=False, editable=False)
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="merged_from",
        help_text=_("Set when this customer was merged into another: cards and points are there."),
    )
    merged_at = models.DateTimeField(_("merged"), null=True, blank=True, editable=False)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-registered_at"]
        permissions = [("anonymise_customer", _("Can anonymise a customer on request"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__startswith="+"),
                name="customer_phone_e164",
            ),
            models.UniqueConstraint(
                Lower("email"), condition=Q(email__isnull=False), name="customer_email_unique_ci"
            ),
            # What crm.contacts.normalize_email makes of it: a bulk write that skips save()
            # cannot store another form either.
            models.CheckConstraint(
                condition=Q(email__isnull=True) | Q(email=Lower(Trim("email"))),
                name="customer_email_canonical",
            ),
            models.CheckConstraint(
                condition=Q(referrer__isnull=True) | ~Q(referrer=F("id")),
                name="customer_not_own_referrer",
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | ~Q(merged_into=F("id")),
                name="customer_not_merged_into_itself",
            ),
        ]
        indexes = [
            models.Index(Lower("last_name"), Lower("first_name"), name="customer_name_idx"),
            # who changed since: an incremental segment refresh (crm.segments.incremental)
            models.Index(fields=["updated_at"], name="customer_updated_idx"),
        ]

    def __str__(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.public_id

    def save(self, *args, **kwargs):
        """Store the contacts in their canonical form and un-verify a changed one.

        Every writer passes here (the services, the admin, a merge, a test's factory): a phone
        written is put in E.164 and an email trimmed and lower-cased (``crm.contacts``; a new
        phone that is not one raises ``ValidationError``). A phone or email that differs from the
        stored one loses its ``*_verified`` flag, unless the same write sets the flag itself
        (a merge moves a verified number with its flag): the new address has not been
        verified. ``update_fields`` grows by the flags reset.
        """
        update_fields = kwargs.get("update_fields")
        written = set(CONTACT_FLAGS) if update_fields is None else set(update_fields)
        stored = getattr(self, "_stored_contacts", None)
        # Only a contact being written that is not the stored one is read again: a number the
        # phone library stops knowing after an upgrade must not break unrelated saves.
        if "phone" in written and (stored is None or self.phone != stored.get("phone")):
            self.phone = normalize_phone_or_none(self.phone)
        if "email" in written:
            self.email = normalize_email(self.email)
        if stored is not None:
            reset = [
                flag
                for field, flag in CONTACT_FLAGS.items()
                if field in written
                and field in stored
                and flag in stored
                and getattr(self, field) != stored[field]
                and getattr(self, flag) == stored[flag]
                and getattr(self, flag)
            ]
            for flag in reset:
                setattr(self, flag, False)
            if update_fields is not None and reset:
                kwargs["update_fields"] = [*update_fields, *reset]
        super().save(*args, **kwargs)
        saved = set(CONTACT_FLAGS) | set(CONTACT_FLAGS.values())
        if update_fields is not None:
            saved &= set(kwargs["update_fields"])
        self._stored_contacts = {
            **(stored or {}),
            **{name: getattr(self, name) for name in saved},
        }

    save.alters_data = True  # type: ignore[attr-defined]

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # The contacts as stored, for save() to see which of them a writer changed.
        instance._stored_contacts = {
            name: getattr(instance, name)
            for name in CONTACT_FLAGS.keys() | CONTACT_FLAGS.values()
            if name in instance.__dict__
        }
        return instance

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._stored_contacts = {
            name: getattr(self, name)
            for name in CONTACT_FLAGS.keys() | CONTACT_FLAGS.values()
            if name in self.__dict__
        }

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)


class Consent(models.Model):
    """A customer's consent to be contacted through one channel, with when and how it changed."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("email")
        PUSH = "push", _("push notifications")
        VIBER = "viber", _("Viber")
        TELEGRAM = "telegram", _("Telegram")
        CALL = "call", _("phone calls")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="consents"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    is_granted = models.BooleanField(_("granted"), default=False)
    granted_at = models.DateTimeField(_("granted"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    source = models.CharField(_("given through"), max_length=100, blank=True)
    text_version = models.CharField(_("consent text version"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_one_per_channel"),
            models.CheckConstraint(
                condition=Q(is_granted=False) | Q(granted_at__isnull=False),
                name="consent_granted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {'+' if self.is_granted else '-'}"
