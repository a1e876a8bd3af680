"""Reports kept as rows: the promotion back-tests a marketer asked for, with their figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import DECIMAL_PLACES, MAX_DIGITS

# A run that has given no sign of life for this long lost its worker: it is shown as stale
# and can be run again. A running back-test reports its progress after every chunk of
# receipts (promotions.backtest.CHUNK_SIZE), seconds apart.
STALE_AFTER = timedelta(minutes=10)


def money_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name,
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        **kwargs,
    )


class Backtest(models.Model):
    """Promotions run over the past receipts and occasions of a period (promotions.backtest):
    ``promotion`` and its ``companions``, together, with their compatibility.

    The figures are written once per run by ``reports.services.backtest_perform``; a re-run
    bumps ``run_number``, so a late answer of an earlier run never overwrites a newer one.
    ``since`` and ``until`` are moments, typed and shown in the back office's time zone
    (``settings.TIME_ZONE``); promotion days and hours are read in each store's time."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    promotion = models.ForeignKey(
        "promotions.Promotion",
        verbose_name=_("promotion"),
        on_delete=models.CASCADE,
        related_name="backtests",
        help_text=_("Any promotion, a draft too: it is run as if active."),
    )
    companions = models.ManyToManyField(
        "promotions.Promotion",
        verbose_name=_("tested together with"),
        blank=True,
        related_name="+",
        help_text=_(
            "Other promotions to run with it, as if active over the same period: priority, "
            "compatibility groups and “exclusive” decide between them as on a live receipt."
        ),
    )
    since = models.DateTimeField(_("from (back office time)"))
    until = models.DateTimeField(_("until (back office time)"), help_text=_("Exclusive."))
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("stores"),
        blank=True,
        related_name="+",
        help_text=_(
            "Empty: every store of the promotion's partner (for a coalition promotion, of "
            "the programme's partner, or every store)."
        ),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    run_number = models.PositiveIntegerField(_("run number"), default=0, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    queued_at = models.DateTimeField(_("run queued"), null=True, blank=True, editable=False)
    started_at = models.DateTimeField(_("run started"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("run finished"), null=True, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(
        _("last sign of life"), null=True, blank=True, editable=False
    )
    processed = models.PositiveIntegerField(_("receipts processed"), default=0, editable=False)
    to_process = models.PositiveIntegerField(_("receipts to process"), default=0, editable=False)
    error = models.TextField(_("error"), blank=True, editable=False)
    # The figures (all zero until the run is done). Money in roubles.
    receipts_examined = models.PositiveIntegerField(_("receipts examined"), default=0)
    receipts_fired = models.PositiveIntegerField(_("receipts where it fired"), default=0)
    customers_reached = models.PositiveIntegerField(_("customers reached"), default=0)
    occasions_rewarded = models.PositiveIntegerField(_("occasions rewarded"), default=0)
    discount_amount = money_field(_("discount it gives"))
    points_worth = money_field(
        _("worth of the points it gives"), help_text=_("At each currency's value of a point.")
    )
    total_cost = money_field(_("total cost"), help_text=_("Its discount plus its points' worth."))
    discount_change = money_field(
        _("change of all discounts"),
        help_text=_("The receipts' discounts with the promotion minus without it."),
    )
    points_worth_change = money_field(
        _("change of all points' worth"),
        help_text=_("The worth of the receipts' points with the promotion minus without it."),
    )
    net_change = money_field(
        _("net change of cost"),
        help_text=_(
            "Both changes together: less than the total cost when the promotion takes lines "
            "from other promotions or lowers the points earned on what is left to pay."
        ),
    )
    points = models.JSONField(
        _("points by currency"),
        default=dict,
        blank=True,
        help_text=_(
            "Per currency code: points given, their worth, and the change of all points "
            "(decimal strings)."
        ),
    )
    bands = models.JSONField(
        _("by band"),
        default=list,
        blank=True,
        help_text=_(
            "For a banded reward: each band with the receipts it applied to and what it gave "
            "(money for a discount, points of the reward's currency)."
        ),
    )
    per_promotion = models.JSONField(
        _("by promotion"),
        default=list,
        blank=True,
        help_text=_(
            "Per promotion tested: its own figures, or the reason it could not be back-tested."
        ),
    )

    class Meta:
        verbose_name = _("promotion back-test")
        verbose_name_plural = _("promotion back-tests")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(until__gt=F("since")), name="backtest_period"),
        ]

    def __str__(self) -> str:
        return _("%(promotion)s, %(since)s – %(until)s") % {
            "promotion": self.promotion,
            "since": timezone.localtime(self.since).strftime("%Y-%m-%d %H:%M"),
            "until": timezone.localtime(self.until).strftime("%Y-%m-%d %H:%M"),
        }

    def is_stale(self, now=None) -> bool:
        """Whether the run lost its worker: queued or running with no sign of life for
        ``STALE_AFTER`` (a worker killed midway, a broker that lost the task)."""
        if self.status not in (self.Status.QUEUED, self.Status.RUNNING):
            return False
        last = self.heartbeat_at or self.started_at or self.queued_at or self.created_at
        return last < (now or timezone.now()) - STALE_AFTER

    @property
    def percent_done(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.to_process:
            return 0
        return min(100, self.processed * 100 // self.to_process)

    def clean(self) -> None:
        if self.since and self.until and self.until <= self.since:
            raise ValidationError(
                {
                    "until": ValidationError(
                        _("The period must end after it starts."), code="backtest_period"
                    )
                }
            )
