"""The product catalogue that promotions read: categories (a tree), brands, products, lists."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.validators import validate_code


class Category(models.Model):
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | ~Q(parent=models.F("id")),
                name="category_not_own_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def ancestors(self) -> list[Category]:
        """Return the chain of parents, nearest first (stopping at a cycle, should one exist)."""
        chain: list[Category] = []
        seen = {self.pk}
        node = self.parent
        while node is not None and node.pk not in seen:
            chain.append(node)
            seen.add(node.pk)
            node = node.parent
        return chain

    def clean(self) -> None:
        node = self.parent
        seen = set()
        while node is not None:
            if node.pk == self.pk and self.pk is not None:
                raise ValidationError(
                    {
                        "parent": ValidationError(
                            _("A category cannot sit inside itself or its own subcategory."),
                            code="category_cycle",
                        )
                    }
                )
            if node.pk in seen:
                break
            seen.add(node.pk)
            node = node.parent


class Brand(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product sold at the registers, found by ``sku`` (a barcode or the partner's own code).

    A product without a partner belongs to the shared catalogue (barcodes are global); a
    partner may also keep products of its own, whose SKUs only need to be unique for it.
    """

    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        help_text=_("Empty for the shared catalogue."),
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=300)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
    )
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_gift_card = models.BooleanField(
        _("gift card or certificate"), default=False, help_text=_("Selling it earns no points.")
    )

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku"], condition=Q(partner__isnull=True), name="product_shared_sku_unique"
            ),
            models.UniqueConstraint(
                fields=["partner", "sku"],
                condition=Q(partner__isnull=False),
                name="product_partner_sku_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductList(models.Model):
    """A named set of products that promotions refer to ("summer drinks", "XXL items")."""

    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="product_lists",
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    products = models.ManyToManyField(
        Product, verbose_name=_("products"), blank=True, related_name="lists"
    )

    class Meta:
        verbose_name = _("product list")
        verbose_name_plural = _("product lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
