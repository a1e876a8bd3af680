"""The outbox: messages to customers waiting for their channel's gateway (SMS, email, push,
Viber, Telegram). Written in the transaction of their cause, so a message is queued exactly
when what it tells happened; the gateways send what is queued and mark it, and the channels'
tracking marks when it was opened and a link in it clicked. Segments read this history
(``communications.segment_kinds``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="messages",
    )
    channel = models.CharField(_("channel"), max_length=16)
    address = models.CharField(
        _("address"), max_length=254, help_text=_("The phone or email it goes to.")
    )
    text = models.TextField(_("text"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    promotion = models.ForeignKey(
        "promotions.Promotion",
        verbose_name=_("promotion"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    firing = models.ForeignKey(
        "promotions.TriggerFiring",
        verbose_name=_("occasion"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    verification = models.ForeignKey(
        "crm.ContactVerification",
        verbose_name=_("contact verification"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        help_text=_("Set on a verification code or link: its text is shown to no one."),
    )
    created_at = models.DateTimeField(_("queued"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Filled by each channel's delivery tracking (an email's open pixel and tracked links, a
    # messenger's read and click receipts) once the gateways report them; empty until then.
    opened_at = models.DateTimeField(
        _("opened"),
        null=True,
        blank=True,
        help_text=_("When the customer first opened it, as the channel's tracking reports."),
    )
    clicked_at = models.DateTimeField(
        _("clicked"),
        null=True,
        blank=True,
        help_text=_("When the customer first followed a link in it, as the channel reports."),
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="message_outbox_idx")]

    def __str__(self) -> str:
        # Not the address: a message's name shows where its contacts may be masked.
        return f"{self.channel} #{self.pk}"
