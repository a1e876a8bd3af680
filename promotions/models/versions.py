"""A promotion's record: its versions as saved, and what it has given against its budget and
limits (with what each receipt added)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS
from promotions.models.promotion import Promotion


class PromotionVersion(models.Model):
    """A promotion as it was saved, in the exchange format (docs/promotion-format.md).

    Written after every change made in the admin, by an action or by an import: the history
    of who changed what, and the rules a past receipt was evaluated with. Never changed."""

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    created_at = models.DateTimeField(_("saved"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(_("through"), max_length=16)
    data = models.JSONField(_("the promotion"))

    class Meta:
        verbose_name = _("promotion version")
        verbose_name_plural = _("promotion versions")
        ordering = ["promotion", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["promotion", "number"], name="promotion_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.promotion} v{self.number}"


class PromotionUsage(models.Model):
    """What a promotion with a budget or limits has given, per scope: ``total`` (the budget),
    ``c:<customer>``, ``d:<day>`` and ``cd:<customer>:<day>``. Confirm locks the rows it
    needs, so concurrent purchases never give more than the budget or the limits allow."""

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="usage"
    )
    key = models.CharField(_("scope"), max_length=64)
    uses = models.IntegerField(_("receipts rewarded"), default=0)
    given = models.DecimalField(
        _("given, RUB"), max_digits=MAX_DIGITS, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("promotion usage")
        verbose_name_plural = _("promotion usage")
        constraints = [
            models.UniqueConstraint(fields=["promotion", "key"], name="promotion_usage_unique"),
            models.CheckConstraint(
                condition=Q(uses__gte=0) & Q(given__gte=0), name="promotion_usage_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.promotion_id} {self.key}: {self.uses} / {self.given}"


class PromotionUsageEffect(models.Model):
    """What one receipt added to a usage row (a refund's rows take it back)."""

    usage = models.ForeignKey(
        PromotionUsage, verbose_name=_("usage"), on_delete=models.CASCADE, related_name="effects"
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="promotion_usage",
    )
    refund = models.ForeignKey(
        "loyalty.Refund",
        verbose_name=_("refund"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotion_usage",
    )
    uses = models.IntegerField(_("receipts"))
    given = models.DecimalField(_("given, RUB"), max_digits=MAX_DIGITS, decimal_places=2)

    class Meta:
        verbose_name = _("usage change")
        verbose_name_plural = _("usage changes")

    def __str__(self) -> str:
        return f"{self.usage_id} {self.uses:+} {self.given:+}"
