"""Product catalogue import (an ERP's export): row checks shared by the admin and the bulk path.

A row is ``sku, name, partner, category, brand, is_active, is_gift_card``; only ``sku`` is
always required. A product is found by (partner, SKU): a known one is updated, an unknown one
created, and one whose values already match is left alone. An empty cell keeps the current
value (for a new product: none, or the default). Categories and brands must exist: they are
what promotions are built on, so a typo in the file must not grow a second category.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from django.utils.translation import gettext as _

from loyalty.models import Brand, Category, Partner, Product
from loyalty.services.imports import (
    Action,
    ImportReport,
    Progress,
    cell_bool,
    cell_text,
    first_row_of,
    source_rows,
    text_max,
    upsert_import,
    upsert_write,
)

REQUIRED = ("sku",)
COLUMNS = ("sku", "name", "partner", "category", "brand", "is_active", "is_gift_card")
UPDATE_FIELDS = ("name", "category", "brand", "is_active", "is_gift_card")
EXISTING_CHUNK = 5000
PROGRESS_EVERY = 50_000
SKU_MAX = text_max(Product, "sku")
NAME_MAX = text_max(Product, "name")


class ProductState(NamedTuple):
    """The values an import may change, in ``UPDATE_FIELDS`` order."""

    name: str
    category_id: int | None
    brand_id: int | None
    is_active: bool
    is_gift_card: bool


NEW_PRODUCT = ProductState("", None, None, True, False)


@dataclass(frozen=True)
class ProductRow:
    """A row that passed its checks: the product's key, its values after the import, and what
    the import does with it."""

    partner_id: int | None
    sku: str
    state: ProductState
    pk: int | None
    action: str

    def apply(self, product: Product) -> Product:
        product.partner_id = self.partner_id
        product.sku = self.sku
        for name, value in zip(ProductState._fields, self.state, strict=True):
            setattr(product, name, value)
        return product

    def instance(self) -> Product:
        return self.apply(Product(pk=self.pk))


def existing_products(
    skus: Iterable[str],
) -> dict[tuple[int | None, str], tuple[int, ProductState]]:
    """The products with one of ``skus``, any partner, by (partner id, SKU) (chunked queries)."""
    found: dict[tuple[int | None, str], tuple[int, ProductState]] = {}
    skus = list(skus)
    for start in range(0, len(skus), EXISTING_CHUNK):
        rows = Product.objects.filter(sku__in=skus[start : start + EXISTING_CHUNK]).values_list(
            "pk",
            "partner_id",
            "sku",
            "name",
            "category_id",
            "brand_id",
            "is_active",
            "is_gift_card",
        )
        for pk, partner_id, sku, name, category_id, brand_id, is_active, is_gift_card in rows:
            state = ProductState(name, category_id, brand_id, is_active, is_gift_card)
            found[(partner_id, sku)] = (pk, state)
    return found


class ProductRowChecker:
    """Check product rows one by one against the catalogue and the rows seen before.

    ``existing`` maps (partner id, SKU) to the product's id and values (``existing_products``).
    ``default_partner`` is for rows with an empty partner column; without it they belong to
    the shared catalogue.
    """

    def __init__(
        self,
        *,
        existing: Mapping[tuple[int | None, str], tuple[int, ProductState]],
        default_partner: Partner | None = None,
    ) -> None:
        self.existing = existing
        self.default_partner_id = default_partner.pk if default_partner else None
        self.seen: dict[tuple[int | None, str], int] = {}
        self._partners = dict(Partner.objects.values_list("code", "pk"))
        self._categories = dict(Category.objects.values_list("code", "pk"))
        self._brands = {name.casefold(): pk for name, pk in Brand.objects.values_list("name", "pk")}

    def check(self, raw: Mapping[str, object], row: int) -> tuple[ProductRow | None, list[str]]:
        """Return the checked row, or ``None`` and the reasons it cannot be imported."""
        errors: list[str] = []
        sku = cell_text(raw.get("sku"))
        if not sku:
            errors.append(_("No SKU given."))
        elif len(sku) > SKU_MAX:
            errors.append(
                _("The SKU %(sku)s is longer than %(max)s characters.")
                % {"sku": sku, "max": SKU_MAX}
            )
        partner_code = cell_text(raw.get("partner"))
        partner_id = self.default_partner_id
        if partner_code:
            partner_id = self._partners.get(partner_code)
            if partner_id is None:
                errors.append(_("Unknown partner %(code)s.") % {"code": partner_code})
        current = None
        if sku and (partner_id is not None or not partner_code):
            key = (partner_id, sku)
            first_row = first_row_of(self.seen, key, row)
            if first_row is not None:
                errors.append(
                    _("The SKU %(sku)s is already on row %(row)s of this file.")
                    % {"sku": sku, "row": first_row}
                )
            current = self.existing.get(key)
        state = current[1] if current else NEW_PRODUCT
        name = cell_text(raw.get("name"))
        if name:
            if len(name) > NAME_MAX:
                errors.append(_("The name is longer than %(max)s characters.") % {"max": NAME_MAX})
            state = state._replace(name=name)
        elif current is None:
            errors.append(_("No name given for the new product %(sku)s.") % {"sku": sku})
        category_code = cell_text(raw.get("category"))
        if category_code:
            category_id = self._categories.get(category_code)
            if category_id is None:
                errors.append(_("Unknown category %(code)s.") % {"code": category_code})
            state = state._replace(category_id=category_id)
        brand_name = cell_text(raw.get("brand"))
        if brand_name:
            brand_id = self._brands.get(brand_name.casefold())
            if brand_id is None:
                errors.append(_("Unknown brand %(name)s.") % {"name": brand_name})
            state = state._replace(brand_id=brand_id)
        flags: dict[str, bool] = {}
        for column in ("is_active", "is_gift_card"):
            value, error = cell_bool(raw.get(column), column)
            if error:
                errors.append(error)
            elif value is not None:
                flags[column] = value
        state = state._replace(
            is_active=flags.get("is_active", state.is_active),
            is_gift_card=flags.get("is_gift_card", state.is_gift_card),
        )
        if errors:
            return None, errors
        if current is None:
            return ProductRow(partner_id, sku, state, None, Action.NEW), []
        action = Action.UNCHANGED if state == current[1] else Action.UPDATE
        return ProductRow(partner_id, sku, state, current[0], action), []


def products_write(rows: Iterable[ProductRow]) -> tuple[int, int]:
    """Create the new products and update the changed ones; return both counts.

    Call it inside a transaction. A product added meanwhile under the same (partner, SKU)
    fails the whole write on the unique index.
    """
    rows = list(rows)
    return upsert_write(
        Product,
        (row.instance() for row in rows if row.action == Action.NEW),
        (row.instance() for row in rows if row.action == Action.UPDATE),
        UPDATE_FIELDS,
    )


def products_import_bulk(
    source: io.TextIOBase | Iterable[Mapping],
    *,
    default_partner: Partner | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of a catalogue file, then create and update all products, or none.

    ``source`` is a CSV text stream or rows already read (an XLSX sheet). Raises
    ``ValidationError`` for a file without an ``sku`` column, or when another writer added
    one of the products meanwhile (nothing is written then); row problems are in the report,
    and the counts say what the import did (or, on a dry run, would do).
    """
    raw_rows = list(source_rows(source, REQUIRED))
    checker = ProductRowChecker(
        existing=existing_products({cell_text(raw.get("sku")) for raw in raw_rows}),
        default_partner=default_partner,
    )
    return upsert_import(
        raw_rows,
        checker,
        write=products_write,
        every=PROGRESS_EVERY,
        conflict_message=(
            _("Some of these products were added meanwhile; nothing was imported. Run it again.")
        ),
        dry_run=dry_run,
        progress=progress,
    )


__all__ = ["COLUMNS", "ProductRow", "ProductRowChecker", "products_import_bulk"]
