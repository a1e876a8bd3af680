"""Promotions, built from general parts (mechanics.md): who, where, when, on what basis, what
reward. No mechanic has a class of its own: a promotion is a row with its scope and schedule,
``Condition`` rows (ANDed within an ``or_group``, the groups ORed) and ``Reward`` rows, and the
engine (``promotions.engine``) reads them all from the compiled rules snapshot.

- ``CompatibilityGroup``: what happens when several of its promotions apply to the same line or
  receipt (``first``, ``best``, ``all``).
- ``ProductSet``: the products a condition or a reward is about: products, categories (with
  their subcategories), brands and product lists, less exclusions.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES
from loyalty.validators import validate_code


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
        errors.update(self._exchange_errors())
        if errors:
            raise ValidationError(errors)

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

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["or_group", "pk"]

    def __str__(self) -> str:
        return self.get_kind_display()

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
        COUNTER_STEP = "counter_step", _("a step of a counter")
        COUPON = "coupon", _("a coupon for the next purchase")
        TIER = "tier", _("a tier (status) for the customer")

    POINTS = ("points_percent", "points_fixed", "points_multiplier")

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
    every_n = models.PositiveSmallIntegerField(
        _("every Nth unit"), null=True, blank=True, help_text=_("For “every Nth unit”.")
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
                condition=~Q(kind="points_multiplier") | Q(multiplier_of__isnull=False),
                name="reward_multiplier_names_its_promotion",
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

    def clean(self) -> None:
        errors = {}
        if self.kind in self.POINTS and self.currency_id is None:
            errors["currency"] = _("Points need a currency.")
        if self.kind == self.Kind.EVERY_NTH and (self.every_n or 0) < 2:
            errors["every_n"] = _("Give N, 2 or more: “every 3rd unit”.")
        if self.kind == self.Kind.COUNTER_STEP:
            if self.counter_id is None:
                errors["counter"] = _("Choose the counter to step.")
            elif self.counter.unit != "steps":
                errors["counter"] = _(
                    "Only a counter of steps given by promotions can be stepped by one."
                )
        if self.kind == self.Kind.COUPON and not self.coupon_series:
            errors["coupon_series"] = _("Give the code of the coupon series.")
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
        related_name="coupon_grants",
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

    def __str__(self) -> str:
        return f"{self.series} → {self.customer_id}"
