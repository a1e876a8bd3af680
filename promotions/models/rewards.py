"""What a promotion gives: discounts, points, counter steps, coupons and tiers."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES, plain
from loyalty.validators import validate_code
from promotions.bands import band_errors, bands_of, bands_summary, basis_errors
from promotions.engine.bands import BANDED_KINDS
from promotions.models.parts import ProductSet, SpendRule
from promotions.models.promotion import Promotion, Trigger


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

    class BandBasis(models.TextChoices):
        NONE = "", _("no bands: the value above")
        RECEIPT_AMOUNT = "receipt_amount", _("the receipt's amount to pay")
        QUANTITY = "quantity", _("the units of the reward's lines")
        CUSTOMER_SPEND = "customer_spend", _("the customer's spend (a counter of money spent)")

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

    band_basis = models.CharField(
        _("bands by"),
        max_length=16,
        choices=BandBasis.choices,
        default=BandBasis.NONE,
        blank=True,
        help_text=_(
            # xgettext:no-python-format
            "A value that depends on the sale (“5% up to 100, 7% from 100, 10% from 500”): what "
            "the bands measure. The receipt's amount is the amount to pay after the discounts "
            "of higher-priority promotions, before points; the customer's spend is a counter "
            "of money spent, all time or a period, before this receipt."
        ),
    )
    band_counter = models.ForeignKey(
        "loyalty.Counter",
        verbose_name=_("spend counter of the bands"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For bands by the customer's spend: a counter of money spent."),
    )
    bands = models.JSONField(
        _("bands"),
        default=list,
        blank=True,
        help_text=_(
            "One band a line: its lower bound, a colon, its value (“100: 7”). A band runs from "
            "its bound (inclusive) up to the next band's; below the first, the reward gives "
            "nothing. The band's value applies to the whole receipt (or all the reward's lines)."
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
            models.CheckConstraint(
                condition=Q(band_basis="") | Q(kind__in=sorted(BANDED_KINDS)),
                name="reward_bands_on_valued_kinds",
            ),
            models.CheckConstraint(
                condition=~Q(band_basis="customer_spend") | Q(band_counter__isnull=False),
                name="reward_spend_bands_name_a_counter",
            ),
        ]

    def __str__(self) -> str:
        if self.band_basis and self.bands:
            return _("%(kind)s by bands: %(bands)s") % {
                "kind": self.get_kind_display(),
                "bands": bands_summary(self.bands),
            }
        if self.kind == self.Kind.POINTS_PERCENT:
            return _("%(value)s%% in %(currency)s") % {
                "value": plain(self.value),
                "currency": self.currency,
            }
        if self.kind == self.Kind.POINTS_FIXED:
            return _("%(value)s %(currency)s") % {
                "value": plain(self.value),
                "currency": self.currency,
            }
        return f"{self.get_kind_display()}: {plain(self.value)}"

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

    def _band_errors(self) -> dict:
        """The bands, their basis and counter; with bands right, ``value`` is the first band's
        (the column stays filled, and a reader of ``value`` alone sees the lowest band)."""
        counter = self.band_counter if self.band_counter_id else None
        errors: dict = basis_errors(self.band_basis, self.bands, counter)
        if self.bands:
            messages = band_errors(self.kind, self.band_basis, self.bands)
            if messages:
                errors["bands"] = messages
            elif not errors:
                self.value = bands_of(self.bands)[0].value
        if counter is not None and self.promotion_id and self._other_programme(counter):
            errors["band_counter"] = _("The counter must be of the promotion's programme.")
        return errors

    def clean(self) -> None:
        errors = {}
        errors.update(self._band_errors())
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
