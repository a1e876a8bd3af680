"""Promotions, built from general parts (mechanics.md): who, where, when, on what basis, what
reward. No mechanic has a class of its own: a promotion is a row with its scope and schedule,
``Condition`` rows (ANDed within an ``or_group``, the groups ORed) and ``Reward`` rows, and the
engine (``promotions.engine``) reads them all from the compiled rules snapshot.

- ``CompatibilityGroup``: what happens when several of its promotions apply to the same line or
  receipt (``first``, ``best``, ``all``).
- ``ProductSet``: the products a condition or a reward is about: products, categories (with
  their subcategories), brands and product lists, less exclusions.
- ``Draw`` and ``DrawWinner``: prize draws among the customers who qualified in a period.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES
from loyalty.validators import CODE_ALPHABET, validate_code


class PromotionQuerySet(models.QuerySet):
    def active(self, at=None):
        """Promotions in force at ``at`` (default: now): active status and inside their period."""
        at = at or timezone.now()
        return self.filter(status=Promotion.Status.ACTIVE, starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )

    def for_partner(self, partner):
        return self.filter(Q(partner__isnull=True) | Q(partner=partner))


class CompatibilityGroup(models.Model):
    """Promotions that compete: only the first (by priority), only the best, or all of them."""

    class Mode(models.TextChoices):
        FIRST = "first", _("first: only the highest priority one")
        BEST = "best", _("best: only the one worth most to the customer")
        ALL = "all", _("all: every one of them")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="promotion_groups",
    )
    name = models.CharField(_("name"), max_length=200)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.FIRST)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("compatibility group")
        verbose_name_plural = _("compatibility groups")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="group_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mode})"


class ProductSet(models.Model):
    """Products a condition or a reward is about: any of the products, categories (with all
    their subcategories), brands and lists named, except the excluded products and categories.
    A set that names nothing to include takes every product, even one not in the catalogue."""

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="product_sets",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="product_sets",
    )
    name = models.CharField(_("name"), max_length=200)
    products = models.ManyToManyField(
        "loyalty.Product", verbose_name=_("products"), blank=True, related_name="+"
    )
    categories = models.ManyToManyField(
        "loyalty.Category", verbose_name=_("categories"), blank=True, related_name="+"
    )
    brands = models.ManyToManyField(
        "loyalty.Brand", verbose_name=_("brands"), blank=True, related_name="+"
    )
    lists = models.ManyToManyField(
        "loyalty.ProductList", verbose_name=_("product lists"), blank=True, related_name="+"
    )
    excluded_products = models.ManyToManyField(
        "loyalty.Product", verbose_name=_("except products"), blank=True, related_name="+"
    )
    excluded_categories = models.ManyToManyField(
        "loyalty.Category", verbose_name=_("except categories"), blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("product set")
        verbose_name_plural = _("product sets")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="product_set_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


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


class SpendRule(models.Model):
    """Where and how points of a promotion may be spent (mechanics.md item 8): only on the
    lines of a product set, only from a receipt of at least an amount, only at some stores or
    hours, at most a percent of the receipt. A reward names the rule; the points it gives keep
    it until they are spent or burn."""

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="spend_rules",
    )
    name = models.CharField(_("name"), max_length=200)
    product_set = models.ForeignKey(
        ProductSet,
        verbose_name=_("only on the lines of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="spend_rules",
        help_text=_("Empty: any line."),
    )
    min_receipt = models.DecimalField(
        _("only from a receipt of, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("The amount to pay after discounts. Empty: any receipt."),
    )
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("only at the stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every store."),
    )
    time_from = models.TimeField(_("only from (store time)"), null=True, blank=True)
    time_to = models.TimeField(
        _("only until (store time)"), null=True, blank=True, help_text=_("Exclusive.")
    )
    max_percent = models.DecimalField(
        _("at most, % of the receipt"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("Of the amount to pay after discounts. Empty: as the programme allows."),
    )

    class Meta:
        verbose_name = _("spending rule")
        verbose_name_plural = _("spending rules")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="spend_rule_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.product_set_id and self.programme_id:
            if self.product_set.programme_id != self.programme_id:
                raise ValidationError(
                    {"product_set": _("The product set must be of the rule's programme.")}
                )


class Condition(models.Model):
    """One condition of a promotion. Rows with the same ``or_group`` must all hold; the
    promotion applies when any of its groups holds (no rows: always)."""

    class Kind(models.TextChoices):
        RECEIPT_TOTAL = "receipt_total", _("receipt: amount to pay")
        LINE_COUNT = "line_count", _("receipt: number of lines")
        CONTAINS = "contains", _("receipt contains products of a set")
        LINE = "line", _("a line of the set: quantity or amount")
        CUSTOMER_TIER = "customer_tier", _("customer: tier")
        COUNTER_VALUE = "counter_value", _("customer: counter value")
        NTH_PURCHASE = "nth_purchase", _("customer: every Nth step of a counter")
        PROMOTION_DONE = "promotion_done", _("customer: has completed a promotion (a chain)")

    class Operator(models.TextChoices):
        GTE = "gte", _("at least")
        LT = "lt", _("less than")

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="conditions"
    )
    or_group = models.PositiveSmallIntegerField(
        _("group"),
        default=1,
        help_text=_("Conditions of one group must all hold; any group holding is enough."),
    )
    kind = models.CharField(_("condition"), max_length=32, choices=Kind.choices)
    operator = models.CharField(
        _("operator"), max_length=8, choices=Operator.choices, default=Operator.GTE
    )
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=2, null=True, blank=True
    )
    quantity = models.DecimalField(
        _("quantity or count"), max_digits=15, decimal_places=3, null=True, blank=True
    )
    product_set = models.ForeignKey(
        ProductSet,
        verbose_name=_("product set"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conditions",
    )
    tiers = models.ManyToManyField(
        "loyalty.Tier", verbose_name=_("tiers"), blank=True, related_name="+"
    )
    counter = models.ForeignKey(
        "loyalty.Counter",
        verbose_name=_("counter"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    done_promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("completed promotion"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "For a chain: the step before. “At least”: the customer has been rewarded by it; "
            "“less than”: not yet."
        ),
    )

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["or_group", "pk"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def _chain_errors(self) -> dict:
        """A chain step names the step before: a promotion of the same programme that counts
        per customer what it gave (a receipt promotion needs “receipts per customer”)."""
        step = self.done_promotion
        if step is None:
            return {"done_promotion": _("Choose the promotion the customer must have completed.")}
        if self.promotion_id is not None and step.pk == self.promotion_id:
            return {"done_promotion": _("A promotion cannot wait for itself.")}
        if self.promotion_id is not None:
            programme = (
                Promotion.objects.filter(pk=self.promotion_id)
                .values_list("programme_id", flat=True)
                .first()
            )
            if programme is not None and step.programme_id != programme:
                return {"done_promotion": _("The promotion must be of the same programme.")}
        if step.trigger == Trigger.RECEIPT and step.uses_per_customer is None:
            return {
                "done_promotion": _(
                    "A purchase promotion used as a chain step must limit its receipts per customer "
                    "(1 for a step done once), so that it counts who completed it."
                )
            }
        return {}

    def clean(self) -> None:
        errors = {}
        if self.kind in (self.Kind.RECEIPT_TOTAL,) and self.amount is None:
            errors["amount"] = _("Give the amount the receipt is compared with.")
        if self.kind == self.Kind.LINE_COUNT and self.quantity is None:
            errors["quantity"] = _("Give the number of lines the receipt is compared with.")
        if self.kind in (self.Kind.CONTAINS, self.Kind.LINE) and self.product_set_id is None:
            errors["product_set"] = _("Choose the products the receipt must contain.")
        if self.kind == self.Kind.LINE and self.amount is None and self.quantity is None:
            errors["quantity"] = _("Give the quantity (or the amount) one line must reach.")
        if self.kind in (self.Kind.COUNTER_VALUE, self.Kind.NTH_PURCHASE):
            if self.counter_id is None:
                errors["counter"] = _("Choose the counter.")
            if self.quantity is None or self.quantity <= 0:
                errors["quantity"] = _("Give the counter value (N for “every Nth”), above 0.")
        elif self.kind == self.Kind.PROMOTION_DONE:
            errors.update(self._chain_errors())
        elif self.product_set_id and self.promotion_id:
            programme = (
                Promotion.objects.filter(pk=self.promotion_id)
                .values_list("programme_id", flat=True)
                .first()
            )
            if programme is not None and self.product_set.programme_id != programme:
                errors["product_set"] = _("The product set must be of the promotion's programme.")
        if errors:
            raise ValidationError(errors)


def _programme_of(obj) -> int | None:
    return getattr(obj, "programme_id", None)


class Reward(models.Model):
    """What a promotion gives: a discount in money or points in the reward's currency, on the
    whole receipt or on the lines of a product set."""

    class Kind(models.TextChoices):
        POINTS_PERCENT = "points_percent", _("points: percent of the amount paid")
        POINTS_FIXED = "points_fixed", _("points: a fixed number per receipt")
        POINTS_MULTIPLIER = "points_multiplier", _("points: a multiple of another promotion's")
        DISCOUNT_PERCENT = "discount_percent", _("discount: percent")
        DISCOUNT_FIXED = "discount_fixed", _("discount: a fixed amount")
        SPECIAL_PRICE = "special_price", _("discount: a special price per unit")
        EVERY_NTH = "every_nth", _("discount: every Nth unit at a percent off (100: free)")
        BUNDLE_PRICE = "bundle_price", _("discount: a price for a set of N units (3 for 99.00)")
        DISCOUNT_PER_UNIT = "discount_per_unit", _("discount: a fixed amount off each unit")
        COUNTER_STEP = "counter_step", _("a step of a counter")
        COUPON = "coupon", _("a coupon for the next purchase")
        TIER = "tier", _("a tier (status) for the customer")

    class Beneficiary(models.TextChoices):
        CUSTOMER = "customer", _("the customer")
        REFERRER = "referrer", _("the friend who referred the customer")

    POINTS = ("points_percent", "points_fixed", "points_multiplier")
    # Rewards given unit by unit, which ``max_units`` can limit.
    UNIT_KINDS = (
        "discount_percent",
        "special_price",
        "discount_per_unit",
        "every_nth",
        "bundle_price",
        "points_percent",
    )
    # What a promotion started by something other than a purchase can give: there is no receipt
    # to take a percent of or to discount.
    OCCASION_KINDS = ("points_fixed", "counter_step", "coupon")

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="rewards"
    )
    kind = models.CharField(_("reward"), max_length=32, choices=Kind.choices)
    value = models.DecimalField(
        _("percent, amount, points or factor"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0"))],
    )
    product_set = models.ForeignKey(
        ProductSet,
        verbose_name=_("on the lines of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text=_("Empty: the whole receipt."),
    )
    favourites_only = models.BooleanField(
        _("only the customer's favourite products"),
        default=False,
        help_text=_(
            "Rewards only the lines of the customer's top products by money paid (their "
            "number and period are the programme's settings; recomputed every night), within "
            "the product set if one is chosen. Never on a receipt without a customer."
        ),
    )
    every_n = models.PositiveSmallIntegerField(
        _("every Nth unit"),
        null=True,
        blank=True,
        help_text=_("For “every Nth unit”; for “a price for a set”, the units in a set (3)."),
    )
    max_units = models.PositiveIntegerField(
        _("at most, units per receipt"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Only this many units of a receipt get the reward, the cheapest first (a line of "
            "weighed goods counts as one unit). For a percent, a special price, an amount off "
            "each unit, every Nth unit, a price for a set and points as a percent. Empty: "
            "every unit."
        ),
    )
    multiplier_of = models.ForeignKey(
        Promotion,
        verbose_name=_("multiplies the points of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("currency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For points."),
    )
    activation_delay_days = models.PositiveIntegerField(
        _("points become active after, days"), default=0
    )
    lifetime_days = models.PositiveIntegerField(
        _("points expire after, days"), null=True, blank=True, help_text=_("Empty: never.")
    )
    expires_on = models.DateField(
        _("points burn after"),
        null=True,
        blank=True,
        help_text=_("The last day they can be spent (store's calendar). Empty: by lifetime."),
    )
    expires_days_after_date = models.PositiveSmallIntegerField(
        _("points burn days after the customer's date"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(366)],
        help_text=_(
            "For a promotion started by a date: the last day the points can be spent is this "
            "many days after the date (7: a week after the birthday)."
        ),
    )
    expires_day_of_next_month = models.PositiveSmallIntegerField(
        _("points burn on day of the next month"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_(
            "The last day the points can be spent is this day of the month after the one they "
            "were given in (10: what is not used by the 10th burns)."
        ),
    )
    beneficiary = models.CharField(
        _("given to"),
        max_length=16,
        choices=Beneficiary.choices,
        default=Beneficiary.CUSTOMER,
        help_text=_(
            "The friend who referred the customer: refer-a-friend rewards. A customer nobody "
            "referred gives the friend nothing."
        ),
    )
    min_line_quantity = models.DecimalField(
        _("only lines of at least, units"),
        max_digits=15,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Rewards only the lines whose quantity reaches this. Empty: every line."),
    )
    counter = models.ForeignKey(
        "loyalty.Counter",
        verbose_name=_("counter"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For “a step of a counter”: a counter stepped by promotions."),
    )
    spend_rule = models.ForeignKey(
        SpendRule,
        verbose_name=_("points may be spent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text=_("Empty: like any points. Otherwise only as this spending rule allows."),
    )
    coupon_series = models.CharField(
        _("coupon series"),
        max_length=64,
        blank=True,
        validators=[validate_code],
        help_text=_("For “a coupon for the next purchase”: the code of the coupon series."),
    )
    tier = models.ForeignKey(
        "loyalty.Tier",
        verbose_name=_("tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "For “a tier”: the tier the customer moves up to (a customer already there or "
            "higher gets nothing)."
        ),
    )

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="reward_value_positive"),
            models.CheckConstraint(
                condition=~Q(kind__in=["points_percent", "discount_percent", "every_nth"])
                | Q(value__lte=100),
                name="reward_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(lifetime_days__isnull=True) | Q(lifetime_days__gt=0),
                name="reward_lifetime_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["points_percent", "points_fixed", "points_multiplier"])
                | Q(currency__isnull=False),
                name="reward_points_have_a_currency",
            ),
            models.CheckConstraint(
                condition=~Q(kind="every_nth") | Q(every_n__gte=2),
                name="reward_every_nth_from_2",
            ),
            models.CheckConstraint(
                condition=~Q(kind="bundle_price") | Q(every_n__gte=2),
                name="reward_bundle_from_2",
            ),
            models.CheckConstraint(
                condition=Q(max_units__isnull=True)
                | (
                    Q(max_units__gte=1)
                    & Q(
                        kind__in=[
                            "discount_percent",
                            "special_price",
                            "discount_per_unit",
                            "every_nth",
                            "bundle_price",
                            "points_percent",
                        ]
                    )
                ),
                name="reward_max_units_per_unit_kinds",
            ),
            models.CheckConstraint(
                condition=~Q(kind="points_multiplier") | Q(multiplier_of__isnull=False),
                name="reward_multiplier_names_its_promotion",
            ),
            models.CheckConstraint(
                condition=~Q(kind="points_multiplier") | Q(favourites_only=False),
                name="reward_multiplier_not_favourites_only",
            ),
            models.CheckConstraint(
                condition=~Q(kind="tier") | Q(tier__isnull=False), name="reward_tier_names_a_tier"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.POINTS_PERCENT:
            return _("%(value)s%% in %(currency)s") % {
                "value": self.value.normalize(),
                "currency": self.currency,
            }
        if self.kind == self.Kind.POINTS_FIXED:
            return _("%(value)s %(currency)s") % {
                "value": self.value.normalize(),
                "currency": self.currency,
            }
        return f"{self.get_kind_display()}: {self.value.normalize()}"

    def _promotion_or_none(self) -> Promotion | None:
        try:
            return self.promotion
        except Promotion.DoesNotExist:
            return None

    def _occasion_errors(self) -> dict:
        promotion = self._promotion_or_none()
        if promotion is None:  # checked by whoever knows the promotion (the import)
            return {}
        return self.occasion_errors(promotion.trigger)

    def occasion_errors(self, trigger: str) -> dict:
        """What a promotion started by ``trigger`` can give, and what only such a promotion
        can say (messages for a marketer)."""
        errors = {}
        if trigger != Trigger.RECEIPT and self.kind not in self.OCCASION_KINDS:
            errors["kind"] = _(
                "A promotion started by “%(trigger)s” has no receipt: it can give a fixed "
                "number of points, a counter step or a coupon."
            ) % {"trigger": dict(Trigger.choices).get(trigger, trigger)}
        if self.expires_days_after_date is not None and trigger != Trigger.DATE:
            errors["expires_days_after_date"] = _(
                "Only a promotion started by a date of the customer has that date."
            )
        if self.beneficiary == self.Beneficiary.REFERRER and self.kind not in self.POINTS:
            errors["beneficiary"] = _("Only points can be given to the referring friend.")
        return errors

    def _other_programme(self, obj) -> bool:
        promotion = Promotion.objects.filter(pk=self.promotion_id).only("programme").first()
        return promotion is not None and _programme_of(obj) != promotion.programme_id

    def _multiplies_back(self) -> bool:
        """Whether the promotion multiplied (or one it multiplies, and so on) multiplies this
        reward's promotion: a circle the engine could not order."""
        seen, todo = set(), [self.multiplier_of_id]
        while todo:
            current = todo.pop()
            if current == self.promotion_id:
                return True
            if current in seen:
                continue
            seen.add(current)
            todo += list(
                Reward.objects.filter(promotion_id=current, kind=self.Kind.POINTS_MULTIPLIER)
                .exclude(pk=self.pk)
                .values_list("multiplier_of_id", flat=True)
            )
        return False

    def _unit_errors(self) -> dict:
        """A price for a set, an amount off each unit, and the limit on units."""
        errors = {}
        if self.kind == self.Kind.BUNDLE_PRICE and (self.every_n or 0) < 2:
            errors["every_n"] = _(
                "Give the number of units in a set, 2 or more: “3 for 99.00” is 3 (for one "
                "unit, use a special price)."
            )
        money = (self.Kind.BUNDLE_PRICE, self.Kind.DISCOUNT_PER_UNIT)
        if (
            self.kind in money
            and self.value is not None
            and self.value != self.value.quantize(Decimal("0.01"))
        ):
            errors["value"] = _("An amount of money has at most 2 decimal places.")
        if self.max_units is not None:
            if self.kind not in self.UNIT_KINDS:
                errors["max_units"] = _(
                    "Only a reward given unit by unit can be limited to some units: a percent, "
                    "a special price, an amount off each unit, every Nth unit, a price for a "
                    "set or points as a percent."
                )
            elif self.kind == self.Kind.BUNDLE_PRICE and self.max_units < (self.every_n or 0):
                errors["max_units"] = _(
                    "At least the units of one set (%(units)s), or no set ever gets its price."
                ) % {"units": self.every_n}
        return errors

    def clean(self) -> None:
        errors = {}
        if self.kind in self.POINTS and self.currency_id is None:
            errors["currency"] = _("Points need a currency.")
        if self.kind == self.Kind.EVERY_NTH and (self.every_n or 0) < 2:
            errors["every_n"] = _("Give N, 2 or more: “every 3rd unit”.")
        errors.update(self._unit_errors())
        if self.kind == self.Kind.COUNTER_STEP:
            if self.counter_id is None:
                errors["counter"] = _("Choose the counter to step.")
            elif self.counter.unit != "steps":
                errors["counter"] = _(
                    "Only a counter of steps given by promotions can be stepped by one."
                )
        if self.kind == self.Kind.COUPON and not self.coupon_series:
            errors["coupon_series"] = _("Give the code of the coupon series.")
        errors.update(self._occasion_errors())
        if self.kind == self.Kind.TIER:
            if self.tier_id is None:
                errors["tier"] = _("Choose the tier the customer moves to.")
            elif self.promotion_id and self._other_programme(self.tier):
                errors["tier"] = _("The tier must be of the promotion's programme.")
        if self.kind == self.Kind.POINTS_MULTIPLIER:
            if self.multiplier_of_id is None:
                errors["multiplier_of"] = _("Choose the promotion whose points are multiplied.")
            elif self.multiplier_of_id == self.promotion_id:
                errors["multiplier_of"] = _("A promotion cannot multiply its own points.")
            elif self.promotion_id and self._multiplies_back():
                errors["multiplier_of"] = _(
                    "These promotions would multiply each other's points in a circle."
                )
            elif self.promotion_id and self._other_programme(self.multiplier_of):
                errors["multiplier_of"] = _(
                    "The promotion multiplied must be of the same programme."
                )
        if self.favourites_only and self.kind == self.Kind.POINTS_MULTIPLIER:
            errors["favourites_only"] = _(
                "A multiplier multiplies the points another promotion gave, on the lines that "
                "promotion chose: mark that promotion's reward “only the customer's favourite "
                "products” instead."
            )
        if self.product_set_id and self.promotion_id and self._other_programme(self.product_set):
            errors["product_set"] = _("The product set must be of the promotion's programme.")
        percent = (self.Kind.POINTS_PERCENT, self.Kind.DISCOUNT_PERCENT, self.Kind.EVERY_NTH)
        if self.kind in percent and self.value is not None and self.value > 100:
            errors["value"] = _("A percent is at most 100.")
        if errors:
            raise ValidationError(errors)


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


class CouponGrant(models.Model):
    """A coupon a confirmed purchase earned for the customer's next purchase: the hook the
    coupon series fill (issue the code, tell the customer). A cancel withdraws it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("to issue")
        ISSUED = "issued", _("issued")
        WITHDRAWN = "withdrawn", _("withdrawn")

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_grants",
    )
    firing = models.ForeignKey(
        "promotions.TriggerFiring",
        verbose_name=_("occasion"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_grants",
        help_text=_("The occasion that earned it, for a promotion not started by a purchase."),
    )
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="coupon_grants",
    )
    series = models.CharField(_("coupon series"), max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    code = models.CharField(_("coupon code"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon earned")
        verbose_name_plural = _("coupons earned")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(receipt__isnull=False) | Q(firing__isnull=False),
                name="coupon_grant_has_a_cause",
            )
        ]

    def __str__(self) -> str:
        return f"{self.series} → {self.customer_id}"


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


SEED_PATTERN = r"^[0-9a-f]{32,128}$"


class Draw(models.Model):
    """A prize draw (mechanics.md item 19): among the customers who qualified in a period,
    N winners drawn at random, with a seed, so that anyone can re-run the draw and check it.

    **Who qualifies.** A *qualifying purchase* is a receipt of the draw's programme (its points
    currency is one of the programme's) with a customer, sold in ``[period_from, period_to)``,
    that still stands: not cancelled and not wholly refunded (a partly refunded receipt counts
    with its money paid less the money refunded); at the draw's partner and stores if they are
    set; and, with ``promotion`` set, rewarded by that promotion (its line rewards on the
    receipt, less what refunds took back, stay above zero). A customer qualifies with at least
    ``min_purchases`` such purchases that paid at least ``min_amount`` in money in all, who is
    a member of ``segment`` if one is set, and who is not anonymised. All rules hold together.
    Only receipts, refunds and cancellations recorded by the moment of the draw count.

    **Tickets.** One per qualifying customer, or one per qualifying purchase
    (``tickets_per``). Ticket ``(public_id, n)`` is the customer's ``n``-th, from 1. The ticket
    list is ordered by public id (compared as bytes), then number. Its digest is the SHA-256,
    in lowercase hex, of the UTF-8 text made of one line ``"<public_id>:<n>\\n"`` per ticket.

    **The algorithm "sha256-rank/1".** The seed is a lowercase hex string (32 random bytes from
    ``secrets``, unless one was fixed before the draw was scheduled; its commitment is then the
    SHA-256 hex of the seed's text and is published before the period ends). Each ticket's
    score is ``sha256("<seed>:<public_id>:<n>")`` in lowercase hex; tickets are sorted by score,
    then public id, then number, ascending; walking that list, the first ``winners_count``
    distinct customers win, in that order (a customer's later tickets are skipped). Fewer
    customers than winners: every one of them wins.

    The record (``seed``, ``ticket_list``, ``tickets_digest``, ``algorithm``, ``winner_list``)
    is written once, by ``promotions.draws.draw_run``, and never changed afterwards.
    """

    ALGORITHM = "sha256-rank/1"

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        DRAWN = "drawn", _("drawn")
        CANCELLED = "cancelled", _("cancelled")

    class TicketsPer(models.TextChoices):
        CUSTOMER = "customer", _("one ticket per customer")
        PURCHASE = "purchase", _("one ticket per qualifying purchase")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="draws",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_(
            "The partner running the draw: only purchases at this partner count, and its "
            "account pays the points. Empty: purchases at every partner count and the "
            "programme's marketing account pays."
        ),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    # Who qualifies
    period_from = models.DateTimeField(_("purchases from"))
    period_to = models.DateTimeField(
        _("purchases until"), help_text=_("Exclusive. The draw can run only after it.")
    )
    min_purchases = models.PositiveIntegerField(
        _("at least purchases"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Qualifying purchases a customer needs in the period."),
    )
    min_amount = models.DecimalField(
        _("at least paid in money, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("In all the qualifying purchases, less refunds. Empty: any amount."),
    )
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("only purchases at the stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every store (of the partner, if one is chosen)."),
    )
    segment = models.ForeignKey(
        "crm.Segment",
        verbose_name=_("only members of the segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_("Membership at the time of the draw. Empty: any customer."),
    )
    promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("only purchases rewarded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_("Only purchases this promotion gave a discount or points. Empty: any."),
    )
    tickets_per = models.CharField(
        _("tickets"),
        max_length=16,
        choices=TicketsPer.choices,
        default=TicketsPer.CUSTOMER,
        help_text=_("One per qualifying purchase: more purchases, more chances."),
    )
    # The prize
    winners_count = models.PositiveIntegerField(
        _("number of winners"), default=1, validators=[MinValueValidator(1)]
    )
    prize_points = models.DecimalField(
        _("points to each winner"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Empty: no points (a physical prize only)."),
    )
    prize_currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("currency of the points"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    prize_lifetime_days = models.PositiveIntegerField(
        _("points expire after, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: never."),
    )
    prize_description = models.TextField(
        _("prize"), blank=True, help_text=_("A physical prize, as the winners are told.")
    )
    # The seed: fixed beforehand (its commitment published), or drawn by the run
    seed = models.CharField(
        _("seed"),
        max_length=128,
        blank=True,
        validators=[
            RegexValidator(
                SEED_PATTERN,
                _("32 to 128 hexadecimal digits, in lower case."),
                code="draw_seed",
            )
        ],
        help_text=_(
            "Empty: a random seed is drawn at the draw. Set one only to publish its "
            "commitment before the period ends; it is kept hidden until the draw."
        ),
    )
    seed_commitment = models.CharField(
        _("seed commitment (SHA-256)"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("Of a seed fixed beforehand, written when the draw is scheduled."),
    )
    scheduled_at = models.DateTimeField(_("when scheduled"), null=True, blank=True, editable=False)
    # The record, written once by the draw
    drawn_at = models.DateTimeField(_("when drawn"), null=True, blank=True, editable=False)
    algorithm = models.CharField(_("algorithm"), max_length=32, blank=True, editable=False)
    ticket_list = models.JSONField(_("tickets"), default=list, blank=True, editable=False)
    tickets_digest = models.CharField(
        _("tickets digest (SHA-256)"), max_length=64, blank=True, editable=False
    )
    winner_list = models.JSONField(_("winners"), default=list, blank=True, editable=False)
    cancelled_at = models.DateTimeField(_("when cancelled"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("prize draw")
        verbose_name_plural = _("prize draws")
        ordering = ["-period_to", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_to__gt=F("period_from")), name="draw_period_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(min_purchases__gte=1) & Q(winners_count__gte=1),
                name="draw_counts_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gt=0),
                name="draw_min_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(prize_points__isnull=True)
                | Q(prize_points__gt=0, prize_currency__isnull=False),
                name="draw_points_positive_with_currency",
            ),
            models.CheckConstraint(
                condition=Q(prize_points__isnull=False) | ~Q(prize_description=""),
                name="draw_has_a_prize",
            ),
            models.CheckConstraint(
                condition=Q(prize_lifetime_days__isnull=True) | Q(prize_lifetime_days__gt=0),
                name="draw_lifetime_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status="drawn")
                | (Q(drawn_at__isnull=False) & ~Q(seed="") & ~Q(tickets_digest="")),
                name="draw_drawn_has_its_record",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_drawn(self) -> bool:
        return self.status == self.Status.DRAWN

    def clean(self) -> None:
        errors = {}
        if self.period_from and self.period_to and self.period_to <= self.period_from:
            errors["period_to"] = ValidationError(
                _("The period must end after it starts."), code="draw_period"
            )
        if self.prize_points is None and not self.prize_description.strip():
            errors["prize_description"] = ValidationError(
                _("Give points to each winner, a prize, or both."), code="draw_no_prize"
            )
        if self.prize_points is not None and self.prize_currency_id is None:
            errors["prize_currency"] = ValidationError(
                _("Points need a currency."), code="draw_points_currency"
            )
        elif self.prize_currency_id and self.programme_id:
            currency = self.prize_currency
            if currency.programme_id != self.programme_id:
                errors["prize_currency"] = ValidationError(
                    _("The currency must be of the draw's programme."), code="draw_currency"
                )
            elif self.prize_points is not None and (
                self.prize_points.quantize(Decimal(1).scaleb(-currency.decimal_places))
                != self.prize_points
            ):
                errors["prize_points"] = ValidationError(
                    _("The currency has %(places)d decimal places.")
                    % {"places": currency.decimal_places},
                    code="draw_points_places",
                )
        if self.promotion_id and self.programme_id:
            if self.promotion.programme_id != self.programme_id:
                errors["promotion"] = ValidationError(
                    _("The promotion must be of the draw's programme."), code="draw_promotion"
                )
        if self.segment_id and self.programme_id:
            if self.segment.programme_id != self.programme_id:
                errors["segment"] = ValidationError(
                    _("The segment must be of the draw's programme."), code="draw_segment"
                )
        if errors:
            raise ValidationError(errors)


class DrawWinner(models.Model):
    """A winner of a drawn draw, with the posting that paid the points (if the prize has any).

    The draw's ``winner_list`` is the record; these rows link it to the customers and the
    ledger, and their unique keys make sure a customer wins and is paid once per draw."""

    draw = models.ForeignKey(
        Draw, verbose_name=_("prize draw"), on_delete=models.PROTECT, related_name="winners"
    )
    place = models.PositiveIntegerField(_("place"))
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="draw_wins",
    )
    ticket_no = models.PositiveIntegerField(_("ticket"))
    score = models.CharField(_("score"), max_length=64)
    posting = models.OneToOneField(
        "loyalty.Posting",
        verbose_name=_("posting"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draw_win",
    )

    class Meta:
        verbose_name = _("winner")
        verbose_name_plural = _("winners")
        ordering = ["draw", "place"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "place"], name="draw_winner_place_unique"),
            models.UniqueConstraint(
                fields=["draw", "customer"], name="draw_winner_customer_unique"
            ),
            models.CheckConstraint(condition=Q(place__gte=1), name="draw_winner_place_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.draw_id} #{self.place}: {self.customer_id}"


COUPON_ALPHABET = CODE_ALPHABET


class CouponSeries(models.Model):
    """A series of coupons (mechanics.md item 16): one code for everyone (mass) or a unique
    code per coupon (personal), how often a coupon may be used, and when its life starts and
    ends. Its ``code`` is what a promotion's "coupon for the next purchase" reward names."""

    class Kind(models.TextChoices):
        MASS = "mass", _("one code for everyone")
        PERSONAL = "personal", _("a unique code per coupon")

    class LifeStart(models.TextChoices):
        ISSUE = "issue", _("when issued")
        DATE = "date", _("on a date")
        AFTER_DAYS = "after_days", _("N days after the issue")
        NEXT_DAY = "next_day", _("at the start of the next day")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="coupon_series",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_series",
        help_text=_("Empty: the whole programme."),
    )
    code = models.CharField(
        _("series code"),
        max_length=64,
        validators=[validate_code],
        help_text=_("What a “coupon for the next purchase” reward names."),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("codes"), max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    mass_code = models.CharField(
        _("the code for everyone"),
        max_length=32,
        blank=True,
        help_text=_("For one code for everyone, e.g. SPRING2027."),
    )
    prefix = models.CharField(
        _("prefix of the unique codes"), max_length=8, blank=True, help_text=_("E.g. HAPPY-.")
    )
    code_length = models.PositiveSmallIntegerField(
        _("length of the unique codes"),
        default=10,
        validators=[MinValueValidator(6), MaxValueValidator(20)],
        help_text=_("Characters after the prefix; longer when many coupons are issued."),
    )
    uses_per_coupon = models.PositiveIntegerField(
        _("uses per coupon"),
        null=True,
        blank=True,
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("1: single-use. Empty: any number."),
    )
    uses_per_customer = models.PositiveIntegerField(
        _("uses per customer"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    uses_total = models.PositiveIntegerField(
        _("uses in total"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    life_start = models.CharField(
        _("life starts"), max_length=16, choices=LifeStart.choices, default=LifeStart.ISSUE
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    start_after_days = models.PositiveSmallIntegerField(
        _("starts after, days"), null=True, blank=True
    )
    lifetime_days = models.PositiveIntegerField(
        _("valid for, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("From the start of its life. Empty: until the series ends."),
    )
    ends_at = models.DateTimeField(
        _("series ends"), null=True, blank=True, help_text=_("No coupon is valid after it.")
    )
    returned_on_refund = models.BooleanField(
        _("given back by a refund"),
        default=True,
        help_text=_("A cancel or a full refund of the purchase makes a used coupon valid again."),
    )
    is_scratch = models.BooleanField(
        _("scratch coupons"),
        default=False,
        help_text=_(
            "Each coupon's prize is drawn at issue from the series' prize table and stays "
            "hidden until the coupon is used: the prize promotion applies, not the others."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon series")
        verbose_name_plural = _("coupon series")
        ordering = ["programme_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="coupon_series_code_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.kind == self.Kind.MASS and not self.mass_code:
            errors["mass_code"] = _("Give the code everyone uses.")
        # A code for everyone is chosen by the marketer (SPRING2027): any Latin letter or
        # digit; only the drawn unique codes avoid the characters read alike.
        if self.mass_code and not all(
            c.isascii() and (c.isalnum() or c == "-") for c in self.mass_code
        ):
            errors["mass_code"] = _("Use Latin letters, digits and hyphens.")
        elif self.mass_code and self._mass_code_taken():
            errors["mass_code"] = _("This code is already used by another coupon series.")
        if self.life_start == self.LifeStart.DATE and self.starts_on is None:
            errors["starts_on"] = _("Give the date the coupons' life starts.")
        if self.life_start == self.LifeStart.AFTER_DAYS and not self.start_after_days:
            errors["start_after_days"] = _("Give the number of days after the issue.")
        if errors:
            raise ValidationError(errors)

    def _mass_code_taken(self) -> bool:
        code = self.mass_code.upper()
        others = CouponSeries.objects.exclude(pk=self.pk)
        return (
            others.filter(kind=self.Kind.MASS, mass_code__iexact=code).exists()
            or Coupon.objects.filter(code=code).exclude(series_id=self.pk).exists()
        )


class Coupon(models.Model):
    """One coupon of a series: its code, whose it is, when it is valid, how often it was used."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        USED = "used", _("used up")
        WITHDRAWN = "withdrawn", _("withdrawn")

    series = models.ForeignKey(
        CouponSeries, verbose_name=_("series"), on_delete=models.PROTECT, related_name="coupons"
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
        help_text=_("Empty: anyone who has the code."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    held_for = models.CharField(
        _("held for"),
        max_length=100,
        blank=True,
        help_text=_("The terminal and receipt a calculate with a hold reserved it for."),
    )
    held_until = models.DateTimeField(_("held until"), null=True, blank=True)
    prize = models.ForeignKey(
        Promotion,
        verbose_name=_("hidden prize"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Scratch coupons: the promotion drawn for it, shown once it is used."),
    )
    grant = models.OneToOneField(
        CouponGrant,
        verbose_name=_("earned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon",
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="coupon_valid_until_after_from",
            )
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """A coupon used on a confirmed receipt; a cancel or a full refund gives it back (marks
    ``returned_at``) when its series says so."""

    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="redemptions"
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_redemptions",
    )
    redeemed_at = models.DateTimeField(_("used"), default=timezone.now)
    returned_at = models.DateTimeField(_("given back"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon used")
        verbose_name_plural = _("coupons used")
        ordering = ["-redeemed_at"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "receipt"], name="coupon_once_per_receipt")
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} @ {self.receipt_id}"


class ScratchPrize(models.Model):
    """A row of a scratch series' prize table: a promotion (its reward is the prize) and its
    weight; a coupon's prize is drawn at issue with chances in proportion to the weights."""

    series = models.ForeignKey(
        CouponSeries, verbose_name=_("series"), on_delete=models.CASCADE, related_name="prizes"
    )
    promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("prize promotion"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A promotion that requires a coupon of this series."),
    )
    weight = models.PositiveIntegerField(_("weight"), default=1, validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("scratch prize")
        verbose_name_plural = _("scratch prizes")
        constraints = [
            models.UniqueConstraint(fields=["series", "promotion"], name="scratch_prize_once"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="scratch_prize_weight"),
        ]

    def __str__(self) -> str:
        return f"{self.promotion} × {self.weight}"

    def clean(self) -> None:
        if (
            self.promotion_id
            and self.series_id
            and self.promotion.coupon_series_id != self.series_id
        ):
            raise ValidationError(
                {"promotion": _("The prize promotion must require a coupon of this series.")}
            )
