"""Suggestions that two customers are one person, for a person to review (merge or dismiss).

Phones and emails are unique by construction (E.164, and e-mails compared without case), so a
second registration with the same contact is refused at the write; what is left to find are the
same person under two contacts: the same or a similar name with the same birth date, and the
same mailbox written two ways (``Anna.P+shop@gmail.com`` and ``annap@gmail.com``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class DuplicateSuggestion(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("to review")
        MERGED = "merged", _("merged")
        DISMISSED = "dismissed", _("not the same person")
        OBSOLETE = "obsolete", _("no longer relevant")

    class Reason(models.TextChoices):
        SAME_NAME_BIRTH_DATE = "same_name_birth_date", _("the same name and birth date")
        SIMILAR_NAME_BIRTH_DATE = "similar_name_birth_date", _("a similar name, same birth date")
        SAME_MAILBOX = "same_mailbox", _("the same mailbox written two ways")

    customer_a = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    customer_b = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("possibly the same as"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    reasons = models.JSONField(_("why"), default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    found_at = models.DateTimeField(_("found"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        ordering = ["status", "-found_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b"], name="duplicate_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(customer_a__lt=F("customer_b")), name="duplicate_pair_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_a_id} ~ {self.customer_b_id}"

    def reasons_shown(self) -> str:
        labels = dict(self.Reason.choices)
        return "; ".join(str(labels.get(reason, reason)) for reason in self.reasons)
