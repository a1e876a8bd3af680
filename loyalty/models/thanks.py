"""Peer thanks (mechanics.md item 22): a member gives points of a currency that is "given to
colleagues" to another member, with a reason; each gift is one ledger posting."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES


class PeerThanks(models.Model):
    giver = models.ForeignKey(
        "crm.Customer",
        verbose_name=pgettext_lazy("thanks", "from"),
        on_delete=models.PROTECT,
        related_name="thanks_given",
    )
    receiver = models.ForeignKey(
        "crm.Customer",
        verbose_name=pgettext_lazy("thanks", "to"),
        on_delete=models.PROTECT,
        related_name="thanks_received",
    )
    currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("given from"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    reason = models.CharField(_("reason"), max_length=300)
    given_at = models.DateTimeField(_("given"), default=timezone.now)
    posting = models.OneToOneField(
        "loyalty.Posting", verbose_name=_("posting"), on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("thanks")
        verbose_name_plural = _("thanks")
        ordering = ["-given_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(giver=F("receiver")), name="thanks_not_to_self"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="thanks_amount_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="thanks_have_a_reason"),
        ]
        indexes = [models.Index(fields=["currency", "given_at"], name="thanks_month_idx")]

    def __str__(self) -> str:
        return f"{self.giver} → {self.receiver}: {self.amount}"
