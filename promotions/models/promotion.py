"""The promotion: who, where, when, what starts it, its budget and limits, and its price when
exchanged for points at the register (mechanics.md). Its conditions and rewards are
``promotions.models.conditions`` and ``promotions.models.rewards``."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES
from loyalty.validators import validate_code
from promotions.models.parts import CompatibilityGroup


class PromotionQuerySet(models.QuerySet):
    def active(self, at=None):
        """Promotions in force at ``at`` (default: now): active status and inside their period."""
        at = at or timezone.now()
        return self.filter(status=Promotion.Status.ACTIVE, starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )

    def for_partner(self, partner):
        return self.filter(Q(partner__isnull=True) | Q(partner=partner))


class AroundDate(models.TextChoices):
    """The customer's yearly dates a promotion's days can be counted around."""

    BIRTHDAY = "birthday", _("birthday")
    REGISTRATION = "registration", _("registration anniversary")
    WEDDING = "wedding", _("wedding anniversary")
    ANNIVERSARY = "anniversary", _("other anniversary")
    NAME_DAY = "name_day", _("name day")
    OTHER = "other", _("another memorable date")


class Trigger(models.TextChoices):
    """What makes a promotion consider a customer: a purchase (the receipt engine) or an
    occasion of the customer's life (``promotions.lifecycle``)."""

    RECEIPT = "receipt", _("a purchase (the receipt)")
    REGISTRATION = "registration", _("registration")
    FIRST_PURCHASE = "first_purchase", _("the first purchase")
    PROFILE_COMPLETED = "profile_completed", _("profile completed")
    CONSENT = "consent", _("a consent given")
    TIER_CHANGE = "tier_change", _("a tier reached")
    COUNTER = "counter", _("a counter reaching a value")
    DATE = "date", _("a date of the customer")
    MONTHLY = "monthly", _("every month, on a day")
    EVENT = "event", _("an event reported through the API")


class TriggerDate(models.TextChoices):
    """The customer's dates a date trigger counts from (any yearly date of the customer)."""

    BIRTHDAY = "birthday", _("birthday")
    CHILD_BIRTHDAY = "child_birthday", _("a child's birthday")
    REGISTRATION = "registration", _("registration anniversary")
    WEDDING = "wedding", _("wedding anniversary")
    ANNIVERSARY = "anniversary", _("other anniversary")
    NAME_DAY = "name_day", _("name day")
    OTHER = "other", _("another memorable date")
    QUESTION = "question", _("a date answered in the profile")


class Promotion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("promotion status", "draft")
        ACTIVE = "active", pgettext_lazy("promotion status", "active")
        PAUSED = "paused", pgettext_lazy("promotion status", "paused")
        FINISHED = "finished", pgettext_lazy("promotion status", "finished")

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
    code = models.CharField(
        _("code"),
        max_length=64,
        blank=True,
        validators=[validate_code],
        help_text=_("Identifies the promotion in exports and imports (e.g. from an ERP)."),
    )
    description = models.TextField(_("description"), blank=True)
    cashier_message = models.CharField(_("message for the cashier"), max_length=300, blank=True)
    customer_message = models.TextField(
        _("message to the customer"),
        blank=True,
        help_text=_(
            "For a promotion started by an occasion: sent through every channel the customer "
            "consented to when it rewards them. {first_name}, {points}, {currency} and "
            "{expires} are replaced."
        ),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    priority = models.IntegerField(
        _("priority"), default=0, help_text=_("Higher is evaluated first.")
    )
    group = models.ForeignKey(
        CompatibilityGroup,
        verbose_name=_("compatibility group"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotions",
    )
    exclusive = models.BooleanField(
        _("exclusive"),
        default=False,
        help_text=_("Stops every lower-priority promotion, in any group, on the lines it touched."),
    )
    # Where
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("stores"),
        blank=True,
        related_name="promotions",
        help_text=_("Empty: every store."),
    )
    terminals = models.ManyToManyField(
        "loyalty.Terminal",
        verbose_name=_("terminals"),
        blank=True,
        related_name="promotions",
        help_text=_("Empty: every terminal (of the stores chosen)."),
    )
    channels = models.JSONField(
        _("sales channels"),
        default=list,
        blank=True,
        help_text=_("Empty: every channel (store, webshop, app)."),
    )
    # Who
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        verbose_name=_("tiers"),
        blank=True,
        related_name="promotions",
        help_text=_("Empty: customers of any tier, and anonymous receipts for discounts."),
    )
    segments = models.ManyToManyField(
        "crm.Segment",
        verbose_name=_("segments"),
        blank=True,
        related_name="promotions",
        help_text=_("Empty: any customer. Otherwise only members of one of these segments."),
    )
    card_batches = models.ManyToManyField(
        "loyalty.CardBatch",
        verbose_name=_("card series"),
        blank=True,
        related_name="promotions",
        help_text=_("Empty: any card. Otherwise only receipts with a card of these series."),
    )
    card_types = models.JSONField(
        _("card types"),
        default=list,
        blank=True,
        help_text=_("Empty: any card type."),
    )
    new_within_days = models.PositiveIntegerField(
        _("new customers: registered at most, days before"),
        null=True,
        blank=True,
        help_text=_("Only customers who registered at most this many days before the sale."),
    )
    referred_only = models.BooleanField(
        _("referred customers only"),
        default=False,
        help_text=_("Only customers who joined through another customer's referral."),
    )
    # When: the period, then days of the week and hours of the day in the store's time
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    weekdays = models.JSONField(
        _("days of the week"),
        default=list,
        blank=True,
        help_text=_("1 = Monday ... 7 = Sunday. Empty: every day."),
    )
    time_from = models.TimeField(_("from (store time)"), null=True, blank=True)
    time_to = models.TimeField(
        _("until (store time)"), null=True, blank=True, help_text=_("Exclusive.")
    )
    around_date = models.CharField(
        _("days around the customer's date"),
        max_length=16,
        choices=AroundDate.choices,
        blank=True,
        help_text=_("Only on the days around this yearly date of the customer."),
    )
    days_before = models.PositiveSmallIntegerField(
        _("days before"), default=0, validators=[MaxValueValidator(180)]
    )
    days_after = models.PositiveSmallIntegerField(
        _("days after"), default=0, validators=[MaxValueValidator(180)]
    )
    coupon_series = models.ForeignKey(
        "promotions.CouponSeries",
        verbose_name=_("only with a coupon of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotions",
        help_text=_(
            "The promotion applies only to a receipt that presents a valid coupon of this "
            "series; the coupon is then used."
        ),
    )
    # What starts it: a purchase, or an occasion of the customer's life
    trigger = models.CharField(
        _("starts on"),
        max_length=20,
        choices=Trigger.choices,
        default=Trigger.RECEIPT,
        help_text=_(
            "A purchase: the promotion works on receipts. Anything else: it rewards the "
            "customer when that happens, once per occasion."
        ),
    )
    event_type = models.ForeignKey(
        "loyalty.EventType",
        verbose_name=_("event type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotions",
        help_text=_("For “an event”: which events."),
    )
    trigger_counter = models.ForeignKey(
        "loyalty.Counter",
        verbose_name=_("counter"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For “a counter reaching a value”."),
    )
    trigger_value = models.DecimalField(
        _("value reached"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Fires once per counter period, when the counter reaches this value."),
    )
    trigger_tier = models.ForeignKey(
        "loyalty.Tier",
        verbose_name=_("tier reached"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For “a tier reached”: empty means any move up."),
    )
    trigger_channel = models.CharField(
        _("consent channel"),
        max_length=16,
        blank=True,
        help_text=_("For “a consent given”: empty means any channel."),
    )
    trigger_date = models.CharField(
        _("customer's date"),
        max_length=16,
        choices=TriggerDate.choices,
        blank=True,
        help_text=_("For “a date of the customer”."),
    )
    trigger_question = models.ForeignKey(
        "crm.ProfileQuestion",
        verbose_name=_("profile question"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For a date answered in the profile: the question (a date question)."),
    )
    trigger_offset_days = models.SmallIntegerField(
        _("days from the date"),
        default=0,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
        help_text=_("-3: three days before the date; 0: on the day; 2: two days after."),
    )
    trigger_day = models.PositiveSmallIntegerField(
        _("day of the month"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("For “every month”: 31 means the month's last day in shorter months."),
    )
    # Budget and limits
    budget = models.DecimalField(
        _("budget, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_(
            "The most the promotion may give in total: discounts plus points at their "
            "currency's rate. Empty: no budget."
        ),
    )
    max_per_receipt = models.DecimalField(
        _("at most per receipt, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Discounts plus points at their rate. Empty: no cap."),
    )
    uses_per_customer = models.PositiveIntegerField(
        _("receipts per customer"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("How many purchases of one customer it may reward. Empty: any."),
    )
    uses_per_customer_day = models.PositiveIntegerField(
        _("receipts per customer a day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Per day of the store's calendar. Empty: any."),
    )
    uses_per_day = models.PositiveIntegerField(
        _("receipts a day, all customers"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: any."),
    )
    # Exchange at the register: the customer pays for the rewards with points (chips)
    exchange_cost = models.DecimalField(
        _("exchange: price in points"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_(
            "Empty: an ordinary promotion. Otherwise it applies only when the register asks "
            "for it by its code and the customer pays this many points of the exchange "
            "currency for its rewards."
        ),
    )
    exchange_currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("exchange: paid in"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The currency of the price, e.g. chips."),
    )
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
            models.UniqueConstraint(
                fields=["programme", "code"],
                condition=~Q(code=""),
                name="promotion_code_unique",
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(budget__gt=0), name="promotion_budget_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_per_receipt__isnull=True) | Q(max_per_receipt__gt=0),
                name="promotion_cap_positive",
            ),
            models.CheckConstraint(
                condition=(Q(uses_per_customer__isnull=True) | Q(uses_per_customer__gt=0))
                & (Q(uses_per_customer_day__isnull=True) | Q(uses_per_customer_day__gt=0))
                & (Q(uses_per_day__isnull=True) | Q(uses_per_day__gt=0)),
                name="promotion_limits_positive",
            ),
            models.CheckConstraint(
                condition=Q(exchange_cost__isnull=True, exchange_currency__isnull=True)
                | Q(exchange_cost__gt=0, exchange_currency__isnull=False),
                name="promotion_exchange_priced_in_a_currency",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = ValidationError(
                _("The promotion must end after it starts."), code="promotion_period"
            )
        from loyalty.models import CardType

        if not isinstance(self.card_types, list) or any(
            kind not in CardType.values for kind in self.card_types
        ):
            errors["card_types"] = ValidationError(
                _("Card types are among: %(types)s.") % {"types": ", ".join(CardType.values)},
                code="promotion_card_types",
            )
        if (self.days_before or self.days_after) and not self.around_date:
            errors["around_date"] = ValidationError(
                _("Choose the date the days before and after are counted from."),
                code="promotion_around_date",
            )
        errors.update(self._trigger_errors())
        errors.update(self._exchange_errors())
        if errors:
            raise ValidationError(errors)

    def _trigger_errors(self) -> dict:
        """What a trigger needs, and nothing a purchase-only setting says (messages for a
        marketer)."""
        from crm.models import Consent, ProfileQuestion

        errors = {}
        kind = self.trigger
        if kind == Trigger.EVENT and self.event_type_id is None:
            errors["event_type"] = _("Choose the type of events that start the promotion.")
        if kind == Trigger.COUNTER:
            if self.trigger_counter_id is None:
                errors["trigger_counter"] = _("Choose the counter.")
            if self.trigger_value is None:
                errors["trigger_value"] = _("Give the value the counter must reach.")
        if kind == Trigger.CONSENT and self.trigger_channel:
            if self.trigger_channel not in Consent.Channel.values:
                errors["trigger_channel"] = _("Channels are among: %(channels)s.") % {
                    "channels": ", ".join(Consent.Channel.values)
                }
        if kind == Trigger.DATE:
            if not self.trigger_date:
                errors["trigger_date"] = _("Choose the customer's date.")
            elif self.trigger_date == TriggerDate.QUESTION:
                question = self.trigger_question
                if question is None:
                    errors["trigger_question"] = _("Choose the profile question.")
                elif question.answer_type != ProfileQuestion.AnswerType.DATE:
                    errors["trigger_question"] = _("The question must be answered with a date.")
        if kind == Trigger.MONTHLY and self.trigger_day is None:
            errors["trigger_day"] = _("Give the day of the month.")
        if kind != Trigger.RECEIPT:
            receipt_only = [
                ("weekdays", bool(self.weekdays)),
                ("time_from", self.time_from is not None or self.time_to is not None),
                ("max_per_receipt", self.max_per_receipt is not None),
                ("group", self.group_id is not None),
                ("exclusive", self.exclusive),
            ]
            for field, used in receipt_only:
                if used:
                    errors[field] = _(
                        "This setting is about receipts; a promotion started by "
                        "“%(trigger)s” has none."
                    ) % {"trigger": self.get_trigger_display()}
        return errors

    def _exchange_errors(self) -> dict:
        errors = {}
        if self.exchange_cost is None and self.exchange_currency_id is None:
            return errors
        if self.exchange_cost is None:
            errors["exchange_cost"] = ValidationError(
                _("Give the price in points, or leave the exchange currency empty."),
                code="promotion_exchange_cost",
            )
        if self.exchange_currency_id is None:
            errors["exchange_currency"] = ValidationError(
                _("Choose the currency the price is paid in."), code="promotion_exchange_currency"
            )
        elif self.programme_id and self.exchange_currency.programme_id != self.programme_id:
            errors["exchange_currency"] = ValidationError(
                _("The currency must be of the promotion's programme."),
                code="promotion_exchange_currency",
            )
        elif self.exchange_cost is not None:
            places = self.exchange_currency.decimal_places
            if self.exchange_cost != self.exchange_cost.quantize(Decimal(1).scaleb(-places)):
                errors["exchange_cost"] = ValidationError(
                    _("%(currency)s has %(places)s decimal places.")
                    % {"currency": self.exchange_currency, "places": places},
                    code="promotion_exchange_cost",
                )
        if not self.code:
            errors["code"] = ValidationError(
                _("An exchange needs a code: the register asks for it by this code."),
                code="promotion_exchange_code",
            )
        return errors
