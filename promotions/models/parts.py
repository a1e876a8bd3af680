"""What promotions share and name: compatibility groups, product sets and spending rules.

- ``CompatibilityGroup``: what happens when several of its promotions apply to the same line or
  receipt (``first``, ``best``, ``all``).
- ``ProductSet``: the products a condition or a reward is about: products, categories (with
  their subcategories), brands and product lists, less exclusions.
- ``SpendRule``: where and how the points a reward gives may be spent.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS


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
        # xgettext:no-python-format
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
