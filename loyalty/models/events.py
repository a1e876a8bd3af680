"""Events of a customer's life that an external system reports (a review written, a group
joined, a workout done): their types, defined in the admin, and the events received."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.validators import validate_code


class EventType(models.Model):
    """A kind of event the API accepts (``POST /api/v1/events``, ``"type": <code>``)."""

    code = models.CharField(
        _("code"),
        max_length=64,
        unique=True,
        validators=[validate_code],
        help_text=_("What the external system sends as the event's type, e.g. joined_group."),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(
        _("accepted"), default=True, help_text=_("Events of an inactive type are refused.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("event type")
        verbose_name_plural = _("event types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class CustomerEvent(models.Model):
    """One event received, once per terminal and ``event_id`` (a retry replays the answer)."""

    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        related_name="events",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="events",
    )
    event_id = models.CharField(_("event id"), max_length=64)
    type = models.ForeignKey(
        EventType, verbose_name=_("type"), on_delete=models.PROTECT, related_name="events"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="events",
    )
    occurred_at = models.DateTimeField(_("happened"))
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    fingerprint = models.CharField(_("body fingerprint"), max_length=64, editable=False)
    result = models.JSONField(_("answer"), default=dict, editable=False)
    received_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "event_id"], name="customer_event_once_per_terminal"
            )
        ]
        indexes = [models.Index(fields=["customer", "type"], name="customer_event_type_idx")]

    def __str__(self) -> str:
        return f"{self.type_id}:{self.event_id}"
