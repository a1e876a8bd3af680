"""Promotions started by an occasion of the customer's life (``promotions.lifecycle``): the
occasions rewarded and the days the daily date job has finished."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS
from promotions.models.promotion import Promotion


class TriggerFiring(models.Model):
    """A promotion started by an occasion rewarded a customer for it: once per promotion,
    customer and occasion ``key`` (the unique key makes every trigger idempotent, whatever
    the retries, races and re-runs of the daily jobs).

    Keys: ``registration``, ``first_purchase``, ``profile``, ``consent:<channel>``,
    ``tier:<tier id>``, ``counter:<period start>``, ``event:<event pk>``,
    ``date:<source>:<the date's occurrence>``, ``month:<YYYY-MM>``.
    """

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.PROTECT, related_name="firings"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="promotion_firings",
    )
    key = models.CharField(_("occasion"), max_length=100)
    occurred_at = models.DateTimeField(_("happened"))
    fired_at = models.DateTimeField(_("rewarded"), default=timezone.now)
    given = models.DecimalField(
        _("given, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Points at their currency's rate, as budgets count."),
    )
    event = models.ForeignKey(
        "loyalty.CustomerEvent",
        verbose_name=_("event"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="firings",
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="firings",
    )

    class Meta:
        verbose_name = _("occasion rewarded")
        verbose_name_plural = _("occasions rewarded")
        ordering = ["-fired_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["promotion", "customer", "key"], name="trigger_firing_once"
            )
        ]
        indexes = [models.Index(fields=["customer", "promotion"], name="trigger_firing_cust_idx")]

    def __str__(self) -> str:
        return f"{self.promotion_id} / {self.customer_id} / {self.key}"


class LifecycleRun(models.Model):
    """A day the daily date job has finished: the next run starts the day after, so a job
    that did not run for days catches the missed days up, each once."""

    job = models.CharField(_("job"), max_length=32)
    day = models.DateField(_("day"))
    finished_at = models.DateTimeField(_("finished"), default=timezone.now)
    rewarded = models.PositiveIntegerField(_("customers rewarded"), default=0)

    class Meta:
        verbose_name = _("daily job run")
        verbose_name_plural = _("daily job runs")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["job", "day"], name="lifecycle_run_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.day}"
