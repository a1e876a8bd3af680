"""Promotions. This is the first part of the engine's data model: a promotion with its scope,
period, status and point rewards. Conditions, compatibility groups and the other rewards of
mechanics.md arrive with the promotion engine (issue #4) on the same tables.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES


class PromotionQuerySet(models.QuerySet):
    def active(self, at=None):
        """Promotions in force at ``at`` (default: now): active status and inside their period."""
        at = at or timezone.now()
        return self.filter(status=Promotion.Status.ACTIVE, starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )

    def for_partner(self, partner):
        return self.filter(Q(partner__isnull=True) | Q(partner=partner))


class Promotion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        FINISHED = "finished", _("finished")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="promotions",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotions",
        help_text=_("Empty: the promotion runs at every partner of the programme."),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    cashier_message = models.CharField(_("message for the cashier"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    priority = models.IntegerField(
        _("priority"), default=0, help_text=_("Higher is evaluated first.")
    )
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="promotion_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError(
                {
                    "ends_at": ValidationError(
                        _("The promotion must end after it starts."), code="promotion_period"
                    )
                }
            )


class Reward(models.Model):
    """What a promotion gives. Points are in the reward's currency."""

    class Kind(models.TextChoices):
        POINTS_PERCENT = "points_percent", _("points: percent of the amount paid")
        POINTS_FIXED = "points_fixed", _("points: a fixed number per receipt")

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="rewards"
    )
    kind = models.CharField(_("reward"), max_length=32, choices=Kind.choices)
    value = models.DecimalField(
        _("percent or points"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.ForeignKey(
        "loyalty.Currency", verbose_name=_("currency"), on_delete=models.PROTECT, related_name="+"
    )
    activation_delay_days = models.PositiveIntegerField(
        _("points become active after, days"), default=0
    )
    lifetime_days = models.PositiveIntegerField(
        _("points expire after, days"), null=True, blank=True, help_text=_("Empty: never.")
    )

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="reward_value_positive"),
            models.CheckConstraint(
                condition=~Q(kind="points_percent") | Q(value__lte=100),
                name="reward_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(lifetime_days__isnull=True) | Q(lifetime_days__gt=0),
                name="reward_lifetime_positive",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.POINTS_PERCENT:
            return _("%(value)s%% in %(currency)s") % {
                "value": self.value.normalize(),
                "currency": self.currency,
            }
        return _("%(value)s %(currency)s") % {
            "value": self.value.normalize(),
            "currency": self.currency,
        }
