"""Proving that a phone or email is the customer's: a one-time code by SMS, a link by email."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ContactVerification(models.Model):
    """One attempt to verify one of a customer's contacts.

    The code (SMS) or the link's secret (email) is never stored: only its keyed hash
    (``secret_hash``); the plain code exists in the outbox message alone. A newer verification
    of the same customer and channel supersedes this one (``superseded_at``): only the newest
    can be confirmed. ``attempts`` counts wrong codes; at ``CONTACT_VERIFICATION_MAX_ATTEMPTS``
    the verification is locked.
    """

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("email")

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="verifications",
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    address = models.CharField(
        _("address"),
        max_length=254,
        help_text=_("The phone (E.164) or email being verified, as it was when the code went."),
    )
    secret_hash = models.CharField(_("code hash"), max_length=128, editable=False)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    superseded_at = models.DateTimeField(
        _("superseded"),
        null=True,
        blank=True,
        help_text=_("When a newer code or link was sent: this one can no longer be confirmed."),
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("contact verification")
        verbose_name_plural = _("contact verifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The newest of a customer's channel is the only one not superseded.
            models.UniqueConstraint(
                fields=["customer", "channel"],
                condition=Q(superseded_at__isnull=True),
                name="verification_one_current_per_channel",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="verification_expires_after_created",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="verification_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"

    @property
    def is_locked(self) -> bool:
        return self.attempts >= settings.CONTACT_VERIFICATION_MAX_ATTEMPTS

    def is_expired(self, at=None) -> bool:
        return (at or timezone.now()) >= self.expires_at

    @property
    def state(self) -> str:
        """``confirmed``, ``superseded``, ``locked``, ``expired`` or ``waiting``, for the pages."""
        if self.verified_at is not None:
            return "confirmed"
        if self.superseded_at is not None:
            return "superseded"
        if self.is_locked:
            return "locked"
        return "expired" if self.is_expired() else "waiting"
