"""Programmes, their currencies and tiers, counters, events, thanks and favourites."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from loyalty.admin.mixins import ReadOnlyAdminMixin
from loyalty.models import (
    Counter,
    CounterValue,
    Currency,
    CustomerEvent,
    EventType,
    FavouriteProduct,
    PeerThanks,
    Programme,
    Tier,
    TierChange,
    TierMembership,
)


class CurrencyInline(TabularInline):
    model = Currency
    extra = 0


class TierInline(TabularInline):
    model = Tier
    extra = 0
    ordering = ["rank"]


@admin.register(Programme)
class ProgrammeAdmin(ModelAdmin):
    list_display = [
        "name",
        "code",
        "partner",
        "is_active",
        "max_spend_percent",
        "min_money_payment",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["partner"]
    inlines = [CurrencyInline, TierInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "partner", "is_active"]}),
        (
            _("Spending points"),
            {
                "fields": [
                    "max_spend_percent",
                    "min_money_payment",
                    "hold_minutes",
                    "certificate_payment_earns",
                ],
                "description": _(
                    "These limits hold for every receipt of the programme, whatever the "
                    "promotion: the most of a receipt points may pay, and the least paid in "
                    "money. A promotion's points can be restricted further by a spending rule "
                    "(Promotions → Spending rules) named in its reward. Try them on a receipt "
                    "in the receipt simulator without changing the programme."
                ),
            },
        ),
        (
            _("Refunds and offline receipts"),
            {
                "fields": [
                    "refund_shortfall_policy",
                    "offline_spend_cap",
                    "offline_window_days",
                    "max_receipt_lines",
                ]
            },
        ),
        (
            _("Tier review (nightly)"),
            {
                "fields": ["tier_review_days", "tier_review_min_spend", "tier_downgrade"],
                "description": _(
                    "A customer who has been in a tier above the entry tier for the whole "
                    "period and bought nothing in it, or less than the minimum, goes down at "
                    "night. Tiers set by hand are left alone."
                ),
            },
        ),
        (
            _("Favourite products (nightly)"),
            {
                "fields": ["favourites_count", "favourites_window_days"],
                "description": _(
                    "Every night each customer's favourite products are ranked anew: the "
                    "products they paid most for in money over the last days of the window, "
                    "less refunds. Rewards marked “only the customer's favourite products” "
                    "reward only those."
                ),
            },
        ),
    ]


@admin.register(Currency)
class CurrencyAdmin(ModelAdmin):
    list_display = [
        "code",
        "name",
        "programme",
        "decimal_places",
        "rub_rate",
        "lifetime_days",
        "max_spend_percent",
        "is_default",
        "is_active",
        "given_as",
    ]
    list_filter = ["programme", "is_active"]
    search_fields = ["code", "name"]


@admin.register(PeerThanks)
class PeerThanksAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Given on the staff page (/staff/thanks/) only; read-only here."""

    list_display = ["given_at", "giver", "receiver", "amount", "currency", "reason"]
    list_filter = ["currency"]
    search_fields = ["reason", "giver__last_name", "receiver__last_name"]
    list_select_related = ["giver", "receiver", "currency"]
    date_hierarchy = "given_at"


@admin.register(Tier)
class TierAdmin(ModelAdmin):
    list_display = ["name", "code", "programme", "rank", "threshold"]
    list_filter = ["programme"]
    search_fields = ["name", "code"]
    ordering = ["programme", "rank"]


@admin.register(TierMembership)
class TierMembershipAdmin(ModelAdmin):
    list_display = ["customer", "programme", "tier", "qualifying_amount", "since", "is_manual"]
    list_filter = ["programme", "tier", "is_manual"]
    search_fields = ["customer__phone", "customer__last_name"]
    list_select_related = ["customer", "programme", "tier"]
    autocomplete_fields = ["customer"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Written only by the services that move tiers; read-only here."""

    list_display = [
        "changed_at",
        "customer",
        "programme",
        "from_tier",
        "to_tier",
        "reason",
        "qualifying_amount_before",
        "qualifying_amount_after",
        "period_spend",
    ]
    list_filter = ["programme", "reason", "to_tier"]
    search_fields = ["customer__phone", "customer__last_name", "customer__public_id"]
    list_select_related = ["customer", "programme", "from_tier", "to_tier"]
    date_hierarchy = "changed_at"


@admin.register(FavouriteProduct)
class FavouriteProductAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Written only by the nightly recompute; read-only here."""

    list_display = ["customer", "programme", "rank", "product", "spend", "computed_at"]
    list_filter = ["programme"]
    search_fields = [
        "customer__phone",
        "customer__last_name",
        "customer__public_id",
        "product__sku",
    ]
    list_select_related = ["customer", "programme", "product"]
    ordering = ["customer_id", "programme_id", "rank"]


@admin.register(Counter)
class CounterAdmin(ModelAdmin):
    list_display = ["name", "code", "programme", "unit", "event_type", "period", "is_active"]
    list_filter = ["programme", "unit", "period", "is_active"]
    search_fields = ["name", "code"]


@admin.register(EventType)
class EventTypeAdmin(ModelAdmin):
    """The kinds of events external systems may report through ``POST /api/v1/events``."""

    list_display = ["code", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]


@admin.register(CustomerEvent)
class CustomerEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Recorded by the API only; read-only here."""

    list_display = ["received_at", "type", "event_id", "customer", "terminal", "occurred_at"]
    list_filter = ["type", "partner"]
    search_fields = ["event_id", "customer__phone", "customer__public_id"]
    list_select_related = ["type", "customer", "terminal"]
    date_hierarchy = "received_at"


@admin.register(CounterValue)
class CounterValueAdmin(ModelAdmin):
    list_display = ["counter", "customer", "period_start", "value", "updated_at"]
    list_filter = ["counter"]
    search_fields = ["customer__phone", "customer__last_name"]
    list_select_related = ["counter", "customer"]
    autocomplete_fields = ["customer"]
