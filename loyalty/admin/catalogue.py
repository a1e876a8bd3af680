"""The catalogue: categories, brands, products and product lists."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from loyalty.admin.imports import ImportButtonMixin
from loyalty.models import (
    Brand,
    Category,
    DataImport,
    Product,
    ProductList,
)


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    list_display = ["name", "code", "parent"]
    list_filter = [("parent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]


@admin.register(Brand)
class BrandAdmin(ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(ImportButtonMixin, ModelAdmin):
    """Products; "Import a file" takes an ERP's catalogue as CSV or XLSX: products are created
    or updated by (partner, SKU), after a summary of what would change."""

    import_job_model = DataImport
    import_job_initial = {"kind": DataImport.Kind.PRODUCTS}
    list_display = ["sku", "name", "category", "brand", "partner", "is_active", "is_gift_card"]
    list_filter = ["is_active", "is_gift_card", "partner", "brand"]
    search_fields = ["sku", "name"]
    list_select_related = ["category", "brand", "partner"]
    autocomplete_fields = ["category", "brand", "partner"]


@admin.register(ProductList)
class ProductListAdmin(ModelAdmin):
    list_display = ["name", "code", "partner"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["products", "partner"]
