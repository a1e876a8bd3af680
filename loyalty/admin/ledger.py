"""The ledger, read-only: accounts, postings, entries, lots, holds, receipts and refunds."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from crm.admin import SegmentFilter
from loyalty.admin.columns import currency_places, number_column
from loyalty.admin.mixins import ReadOnlyAdminMixin
from loyalty.models import (
    Account,
    Hold,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    ReceiptExchange,
    ReceiptLine,
    ReceiptTierAward,
    Refund,
    staff_partner_id,
)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "id",
        "kind",
        "owner",
        "purpose",
        "currency",
        number_column(Account, "balance", currency_places("currency")),
        number_column(Account, "pending", currency_places("currency")),
        number_column(Account, "held", currency_places("currency")),
        "updated_at",
    ]
    list_filter = ["kind", "purpose", "currency"]
    search_fields = ["customer__phone", "customer__last_name", "partner__name"]
    list_select_related = ["customer", "partner", "currency"]

    @admin.display(description=_("owner"))
    def owner(self, obj):
        return obj.customer or obj.partner or _("programme")


class LedgerEntryInline(ReadOnlyAdminMixin, TabularInline):
    model = LedgerEntry
    fields = ["account", "bucket", "amount", "balance_after", "lot", "active_at", "expires_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "id",
        "kind",
        "cause",
        "cause_ref",
        "receipt",
        "actor_type",
        "partner",
        "occurred_at",
    ]
    list_filter = ["kind", "cause", "actor_type", "partner"]
    search_fields = ["cause_ref", "receipt__receipt_id", "description"]
    list_select_related = ["receipt", "partner"]
    date_hierarchy = "occurred_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "id",
        "posting",
        "account",
        "bucket",
        number_column(LedgerEntry, "amount", currency_places("account.currency")),
        number_column(LedgerEntry, "balance_after", currency_places("account.currency")),
        "expires_at",
        "recorded_at",
    ]
    list_filter = ["bucket", "posting__kind", "currency"]
    search_fields = ["account__customer__phone", "posting__cause_ref"]
    list_select_related = ["posting", "account__customer", "account__partner", "account__currency"]


class RefundInline(ReadOnlyAdminMixin, TabularInline):
    model = Refund
    fields = [
        "kind",
        "refund_id",
        "terminal",
        "amount",
        "points_returned",
        "points_reversed",
        "shortfall",
        "debt",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0


class ReceiptLineInline(ReadOnlyAdminMixin, TabularInline):
    model = ReceiptLine
    fields = [
        "line_no",
        "sku",
        "product",
        "quantity",
        "price",
        "amount",
        "discount",
        "points_spent",
        "to_pay",
        "points_earned",
        "refunded_quantity",
    ]
    readonly_fields = fields
    extra = 0


class ReceiptExchangeInline(ReadOnlyAdminMixin, TabularInline):
    model = ReceiptExchange
    fields = ["code", "promotion", "currency", "cost", "lines", "returned_by"]
    readonly_fields = fields
    extra = 0


class ReceiptTierAwardInline(ReadOnlyAdminMixin, TabularInline):
    model = ReceiptTierAward
    fields = ["promotion", "from_tier", "to_tier", "amount_added", "undone_by"]
    readonly_fields = fields
    extra = 0


class ReceiptSegmentFilter(SegmentFilter):
    """Receipts of the customers in a segment; partner staff choose among the segments they
    see (their programmes' and the coalition's)."""

    customer_path = "customer_id"

    def segments(self, request):
        segments = super().segments(request)
        partner_id = staff_partner_id(request.user)
        if partner_id is None:
            return segments
        return segments.filter(
            Q(programme__partner_id=partner_id) | Q(programme__partner__isnull=True)
        )


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "receipt_id",
        "partner",
        "store",
        "terminal",
        "customer",
        "status",
        number_column(Receipt, "total"),
        number_column(Receipt, "to_pay"),
        number_column(Receipt, "points_earned", None),
        "sold_at",
    ]
    list_filter = ["status", "is_offline", "is_flagged", "partner", ReceiptSegmentFilter]
    search_fields = ["receipt_id", "customer__phone", "card__number"]
    list_select_related = ["partner", "store__partner", "terminal", "customer"]
    date_hierarchy = "sold_at"
    inlines = [ReceiptLineInline, ReceiptExchangeInline, ReceiptTierAwardInline, RefundInline]
    exclude = ["result"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "receipt",
        "terminal",
        number_column(Refund, "amount"),
        number_column(Refund, "points_returned", None),
        number_column(Refund, "points_reversed", None),
        number_column(Refund, "shortfall", None),
        number_column(Refund, "debt", None),
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["refund_id", "receipt__receipt_id"]
    list_select_related = ["receipt", "terminal"]
    date_hierarchy = "created_at"
    exclude = ["result"]


@admin.register(Lot)
class LotAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "entry",
        "account",
        "kind",
        "state",
        number_column(Lot, "remaining", currency_places("account.currency")),
        number_column(Lot, "amount", currency_places("account.currency")),
        "active_at",
        "expires_at",
    ]
    list_filter = ["kind", "state", "account__currency"]
    search_fields = ["account__customer__phone", "account__customer__public_id"]
    list_select_related = [
        "entry",
        "account__customer",
        "account__partner",
        "account__currency",
    ]
    date_hierarchy = "expires_at"


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "receipt_id",
        "terminal",
        "account",
        number_column(Hold, "points", currency_places("account.currency")),
        "status",
        "expires_at",
    ]
    list_filter = ["status"]
    search_fields = ["receipt_id", "account__customer__phone"]
    list_select_related = ["terminal", "account__customer", "account__currency"]
