"""What promotions name, beside the builder: compatibility groups, product sets and spending
rules."""

from django.contrib import admin
from unfold.admin import ModelAdmin

from promotions.models import CompatibilityGroup, ProductSet, SpendRule


@admin.register(CompatibilityGroup)
class CompatibilityGroupAdmin(ModelAdmin):
    list_display = ["name", "mode", "programme"]
    list_filter = ["mode", "programme"]
    search_fields = ["name"]


@admin.register(ProductSet)
class ProductSetAdmin(ModelAdmin):
    list_display = ["name", "programme", "partner"]
    list_filter = ["programme", "partner"]
    search_fields = ["name"]
    autocomplete_fields = ["partner"]
    filter_horizontal = [
        "products",
        "categories",
        "brands",
        "lists",
        "excluded_products",
        "excluded_categories",
    ]


@admin.register(SpendRule)
class SpendRuleAdmin(ModelAdmin):
    list_display = ["name", "programme", "product_set", "min_receipt", "max_percent"]
    list_filter = ["programme"]
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    fields = [
        "programme",
        "name",
        "product_set",
        "min_receipt",
        "stores",
        "time_from",
        "time_to",
        "max_percent",
    ]
