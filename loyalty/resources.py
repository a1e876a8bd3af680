"""django-import-export resources of the loyalty app: card batches from CSV or XLSX."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from crm.models import Customer
from loyalty.models import Card, CardBatch
from loyalty.services.card_import import (
    CARD_COLUMNS,
    CardRowChecker,
    cell_text,
    existing_numbers,
)


class CardResource(resources.ModelResource):
    """Cards with columns ``number, batch, card_type, status, customer_phone``.

    Every row goes through ``CardRowChecker``; a row with a problem is a validation error
    that the preview lists with its row number, and the admin then offers no confirm. The
    whole import runs in one transaction, so a failure on confirm writes nothing.
    """

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

    def before_import(self, dataset, **kwargs):
        numbers = (
            {cell_text(n).upper() for n in dataset["number"]}
            if "number" in dataset.headers
            else set()
        )
        self._checker = CardRowChecker(existing=existing_numbers(numbers))
        self._checked = {}

    def before_import_row(self, row, **kwargs):
        checked, errors = self._checker.check(row, kwargs["row_number"])
        if errors:
            raise ValidationError(errors)
        self._checked[kwargs["row_number"]] = checked

    def get_or_init_instance(self, instance_loader, row):
        # An existing number is a row error (checked above): every valid row is a new card.
        return self.init_instance(row), True

    def import_instance(self, instance, row, **kwargs):
        checked = self._checked[kwargs["row_number"]]
        values = checked.values(timezone.now())
        for name, value in zip(
            CARD_COLUMNS,
            values,
            strict=True,
        ):
            setattr(instance, name, value)
        instance.batch = checked.batch
