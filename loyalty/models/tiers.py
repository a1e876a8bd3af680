"""Tiers (ordered statuses) of a programme, counters, and each customer's place in them."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import DECIMAL_PLACES, MAX_DIGITS, POINTS_DECIMAL_PLACES
from loyalty.validators import validate_code


class Tier(models.Model):
    """A status of a programme. A higher rank is a better tier and needs a higher threshold."""

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="tiers",
    )
    code = models.CharField(_("code"), max_length=64, validators=[validate_code])
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(
        _("rank"), help_text=_("1 is the entry tier; higher is better.")
    )
    threshold = models.DecimalField(
        _("qualifying spend from, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
    )
    description = models.TextField(_("benefits"), blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["programme_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "rank"], name="tier_rank_unique"),
            models.UniqueConstraint(fields=["programme", "code"], name="tier_code_unique"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="tier_rank_positive"),
            models.CheckConstraint(
                condition=Q(threshold__gte=0), name="tier_threshold_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.programme_id or self.rank is None or self.threshold is None:
            return
        siblings = Tier.objects.filter(programme_id=self.programme_id).exclude(pk=self.pk)
        lower = siblings.filter(rank__lt=self.rank, threshold__gte=self.threshold).first()
        higher = siblings.filter(rank__gt=self.rank, threshold__lte=self.threshold).first()
        if lower or higher:
            raise ValidationError(
                {
                    "threshold": ValidationError(
                        _(
                            "A higher tier needs a higher threshold than every lower tier (conflicts with %(tier)s)."
                        )
                        % {"tier": lower or higher},
                        code="tier_threshold_order",
                    )
                }
            )


class TierMembership(models.Model):
    """A customer's current tier in a programme and the spend that counts towards the next one."""

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="tier_memberships",
    )
    programme = models.ForeignKey(
        "loyalty.Programme", verbose_name=_("programme"), on_delete=models.PROTECT, related_name="+"
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="memberships"
    )
    qualifying_amount = models.DecimalField(
        _("qualifying spend"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
    )
    since = models.DateTimeField(_("in this tier since"), default=timezone.now)
    is_manual = models.BooleanField(
        _("set by hand"),
        default=False,
        help_text=_("Set by an operator; the nightly job leaves it alone."),
    )

    class Meta:
        verbose_name = _("tier membership")
        verbose_name_plural = _("tier memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "programme"], name="tier_membership_one_per_programme"
            ),
            models.CheckConstraint(
                condition=Q(qualifying_amount__gte=0), name="tier_membership_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.tier}"

    def clean(self) -> None:
        if self.tier_id and self.programme_id and self.tier.programme_id != self.programme_id:
            raise ValidationError(
                {
                    "tier": ValidationError(
                        _("The tier belongs to another programme."), code="tier_programme"
                    )
                }
            )


class TierChange(models.Model):
    """A customer's move from one tier to another, with its reason: the audit trail of tiers.

    Rows are only inserted, by the services that move a membership (purchases, refunds, the
    nightly review, a promotion's tier reward). Entering the entry tier with a first purchase
    is not recorded: the membership's own creation tells it.
    """

    class Reason(models.TextChoices):
        PURCHASE = "purchase", _("purchase")
        REFUND = "refund", _("refund or cancellation")
        NO_PURCHASE = "no_purchase", _("review: no purchase in the period")
        LOW_SPEND = "low_spend", _("review: spent less than the minimum in the period")
        PROMOTION = "promotion", _("promotion reward")

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="tier_changes",
    )
    programme = models.ForeignKey(
        "loyalty.Programme", verbose_name=_("programme"), on_delete=models.PROTECT, related_name="+"
    )
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the customer had no tier yet."),
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to tier"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    qualifying_amount_before = models.DecimalField(
        _("qualifying spend before"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
    )
    qualifying_amount_after = models.DecimalField(
        _("qualifying spend after"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        help_text=_("A review sets it to the new tier's threshold."),
    )
    period_spend = models.DecimalField(
        _("spent in the review period"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        null=True,
        blank=True,
        help_text=_("What the review counted: paid in money, less refunds. Empty otherwise."),
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The purchase, or the refunded purchase, that moved the tier."),
    )
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-changed_at"], name="tier_change_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.from_tier or '-'} -> {self.to_tier}"


class Counter(models.Model):
    """A definition of something counted per customer: purchases, money, units, chips..."""

    class Unit(models.TextChoices):
        PURCHASES = "purchases", _("purchases")
        AMOUNT = "amount", _("money spent")
        QUANTITY = "quantity", _("units bought")
        EVENTS = "events", _("events")
        STEPS = "steps", _("steps given by promotions")

    class Period(models.TextChoices):
        LIFETIME = "lifetime", _("all time")
        DAY = "day", _("day")
        WEEK = "week", _("week")
        MONTH = "month", _("calendar month")
        QUARTER = "quarter", _("quarter")
        YEAR = "year", _("calendar year")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="counters",
    )
    code = models.CharField(_("code"), max_length=64, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    unit = models.CharField(
        _("counts"), max_length=16, choices=Unit.choices, default=Unit.PURCHASES
    )
    period = models.CharField(
        _("resets every"), max_length=16, choices=Period.choices, default=Period.LIFETIME
    )
    event_type = models.ForeignKey(
        "loyalty.EventType",
        verbose_name=_("events of type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="counters",
        help_text=_("For a counter of events: which events it counts (one step each)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("counter")
        verbose_name_plural = _("counters")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="counter_code_unique"),
            models.CheckConstraint(
                condition=Q(unit="events", event_type__isnull=False)
                | (~Q(unit="events") & Q(event_type__isnull=True)),
                name="counter_events_name_their_type",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.unit == self.Unit.EVENTS and self.event_type_id is None:
            raise ValidationError(
                {"event_type": _("Choose the type of events this counter counts.")}
            )
        if self.unit != self.Unit.EVENTS and self.event_type_id is not None:
            raise ValidationError(
                {"event_type": _("Only a counter of events counts events of a type.")}
            )


# Lifetime counters keep one value under this period start, so a single unique key fits all.
LIFETIME_PERIOD_START = "1970-01-01"


class CounterValue(models.Model):
    counter = models.ForeignKey(
        Counter, verbose_name=_("counter"), on_delete=models.PROTECT, related_name="values"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="counter_values",
    )
    period_start = models.DateField(_("period from"), default=LIFETIME_PERIOD_START)
    value = models.DecimalField(
        _("value"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("counter value")
        verbose_name_plural = _("counter values")
        constraints = [
            models.UniqueConstraint(
                fields=["counter", "customer", "period_start"], name="counter_value_unique"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="counter_value_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.counter}: {self.value}"
