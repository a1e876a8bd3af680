"""django-import-export resources of the loyalty app: cards, the product catalogue and stores,
from CSV or XLSX.

Every row goes through the same row checker as the bulk path (``loyalty/services/*_import.py``);
a row with a problem is a validation error that the preview lists with its row number, and the
admin then offers no confirm. The whole import runs in one transaction, so a failure on
confirm writes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources
from import_export.widgets import BooleanWidget, DateWidget, ForeignKeyWidget

from crm.models import Customer
from loyalty.models import Brand, Card, CardBatch, Category, Partner, Product, Store
from loyalty.services.card_import import (
    CARD_COLUMNS,
    CardRowChecker,
    existing_numbers,
)
from loyalty.services.imports import Action, cell_text
from loyalty.services.product_import import ProductRowChecker, existing_products
from loyalty.services.store_import import StoreRowChecker, existing_stores


class CheckedRowsResource(resources.ModelResource):
    """A resource whose rows are checked by a row checker before anything is built.

    Subclasses make the checker for the dataset (``make_checker``) and copy a checked row
    onto its instance (``apply``). A checked row with an ``action`` (``Action``) of an
    existing object updates it; an unchanged one is shown as skipped.
    """

    def make_checker(self, dataset):
        raise NotImplementedError

    def apply(self, instance, checked) -> None:
        raise NotImplementedError

    @staticmethod
    def column(dataset, name: str) -> set[str]:
        return {cell_text(v) for v in dataset[name]} if name in dataset.headers else set()

    def before_import(self, dataset, **kwargs):
        self._checker = self.make_checker(dataset)
        self._checked = None

    def before_import_row(self, row, **kwargs):
        checked, errors = self._checker.check(row, kwargs["row_number"])
        if errors:
            raise ValidationError(errors)
        self._checked = checked

    def get_or_init_instance(self, instance_loader, row):
        pk = getattr(self._checked, "pk", None)
        if pk is None:
            return self.init_instance(row), True
        return self._meta.model.objects.get(pk=pk), False

    def import_instance(self, instance, row, **kwargs):
        self.apply(instance, self._checked)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return getattr(self._checked, "action", None) == Action.UNCHANGED


class CardResource(CheckedRowsResource):
    """Cards with columns ``number, batch, card_type, status, customer_phone``; every valid
    row is a new card (an existing number is a row error)."""

    number = fields.Field(attribute="number", column_name="number")
    batch = fields.Field(
        attribute="batch", column_name="batch", widget=ForeignKeyWidget(CardBatch, "code")
    )
    card_type = fields.Field(attribute="card_type", column_name="card_type")
    status = fields.Field(attribute="status", column_name="status")
    customer_phone = fields.Field(
        attribute="customer",
        column_name="customer_phone",
        widget=ForeignKeyWidget(Customer, "phone"),
    )

    class Meta:
        model = Card
        fields = ("number", "batch", "card_type", "status", "customer_phone")
        export_order = fields
        import_id_fields = ("number",)
        use_transactions = True
        skip_unchanged = False

    def make_checker(self, dataset):
        numbers = {n.upper() for n in self.column(dataset, "number")}
        return CardRowChecker(existing=existing_numbers(numbers))

    def apply(self, instance, checked) -> None:
        for name, value in zip(CARD_COLUMNS, checked.values(timezone.now()), strict=True):
            setattr(instance, name, value)
        instance.batch = checked.batch


class ProductResource(CheckedRowsResource):
    """Products with columns ``sku, name, partner, category, brand, is_active, is_gift_card``.

    A product is found by (partner, SKU): the preview shows each row as new, update (with
    the changed values) or skipped when nothing changes.
    """

    sku = fields.Field(attribute="sku", column_name="sku")
    name = fields.Field(attribute="name", column_name="name")
    partner = fields.Field(
        attribute="partner", column_name="partner", widget=ForeignKeyWidget(Partner, "code")
    )
    category = fields.Field(
        attribute="category", column_name="category", widget=ForeignKeyWidget(Category, "code")
    )
    brand = fields.Field(
        attribute="brand", column_name="brand", widget=ForeignKeyWidget(Brand, "name")
    )
    is_active = fields.Field(attribute="is_active", column_name="is_active", widget=BooleanWidget())
    is_gift_card = fields.Field(
        attribute="is_gift_card", column_name="is_gift_card", widget=BooleanWidget()
    )

    class Meta:
        model = Product
        fields = ("sku", "name", "partner", "category", "brand", "is_active", "is_gift_card")
        export_order = fields
        import_id_fields = ("partner", "sku")
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def make_checker(self, dataset):
        return ProductRowChecker(existing=existing_products(self.column(dataset, "sku")))

    def apply(self, instance, checked) -> None:
        checked.apply(instance)


class StoreResource(CheckedRowsResource):
    """Stores with columns ``code, partner, name, channel, city, address, timezone, is_active,
    opened_at, closed_at``, found by code: new, update or skipped when nothing changes."""

    code = fields.Field(attribute="code", column_name="code")
    partner = fields.Field(
        attribute="partner", column_name="partner", widget=ForeignKeyWidget(Partner, "code")
    )
    name = fields.Field(attribute="name", column_name="name")
    channel = fields.Field(attribute="channel", column_name="channel")
    city = fields.Field(attribute="city", column_name="city")
    address = fields.Field(attribute="address", column_name="address")
    timezone = fields.Field(attribute="timezone", column_name="timezone")
    is_active = fields.Field(attribute="is_active", column_name="is_active", widget=BooleanWidget())
    opened_at = fields.Field(
        attribute="opened_at", column_name="opened_at", widget=DateWidget("%Y-%m-%d")
    )
    closed_at = fields.Field(
        attribute="closed_at", column_name="closed_at", widget=DateWidget("%Y-%m-%d")
    )

    class Meta:
        model = Store
        fields = (
            "code",
            "partner",
            "name",
            "channel",
            "city",
            "address",
            "timezone",
            "is_active",
            "opened_at",
            "closed_at",
        )
        export_order = fields
        import_id_fields = ("code",)
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def make_checker(self, dataset):
        return StoreRowChecker(existing=existing_stores(self.column(dataset, "code")))

    def apply(self, instance, checked) -> None:
        checked.apply(instance)
