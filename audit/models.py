"""Append-only rows, and the audit trail made of them.

``AppendOnlyModel``: rows that are only ever inserted (the ledger's postings and entries, the
certificates' entries, the audit trail): the model refuses ``save()`` of an existing row and
``delete()``, the queryset ``update()`` and ``delete()``; a database trigger refuses UPDATE
(and DELETE on PostgreSQL) from any client.

``AuditEvent``: who changed what, when, from which address, with the values before and after.
Its table keeps the name it had in ``loyalty`` (``loyalty_auditevent``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ImmutableRowError(Exception):
    """Raised on an attempt to change or remove a ledger row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRowError(
            f"{self.model.__name__} rows are append-only; post a reversal instead"
        )

    def delete(self):
        raise ImmutableRowError(
            f"{self.model.__name__} rows are append-only; post a reversal instead"
        )

    update.alters_data = True
    delete.alters_data = True


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRowError(
                f"{type(self).__name__} rows are append-only; post a reversal instead"
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError(
            f"{type(self).__name__} rows are append-only; post a reversal instead"
        )


class AuditEvent(AppendOnlyModel):
    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("changed")
        DELETE = "delete", _("deleted")
        ADJUST = "adjust", _("manual adjustment")
        APPROVE = "approve", _("approved")
        REJECT = "reject", _("rejected")
        REVEAL = "reveal", _("personal data revealed")
        ANONYMISE = "anonymise", _("anonymised")
        OTHER = "other", _("other")

    class Source(models.TextChoices):
        ADMIN = "admin", _("admin")
        STAFF = "staff", _("staff pages")
        API = "api", _("API")
        COMMAND = "command", _("command or job")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    # PROTECT, not SET_NULL: the rows cannot be updated (the trigger refuses it), so a staff
    # user with a history is deactivated rather than deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    # Kept as written at the time: the user may be renamed or deleted later.
    username = models.CharField(_("user name"), max_length=150, blank=True)
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.COMMAND
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("object type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "loyalty_auditevent"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(
                fields=["content_type", "object_id", "at"], name="loyalty_aud_content_a2c860_idx"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.object_repr}"
        )
