"""Partners, stores, terminals and their API keys."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey
from unfold.admin import ModelAdmin, TabularInline

from loyalty.admin.imports import ImportButtonMixin
from loyalty.models import (
    DataImport,
    Partner,
    Store,
    Terminal,
    TerminalAPIKey,
)
from loyalty.services.terminals import terminal_key_issue, terminal_key_revoke

# Terminals have keys of their own (TerminalAPIKey); the library's generic keys are not used.
admin.site.unregister(APIKey)


class StoreInline(TabularInline):
    model = Store
    extra = 0
    fields = ["code", "name", "channel", "city", "timezone", "is_active"]
    show_change_link = True


@admin.register(Partner)
class PartnerAdmin(ModelAdmin):
    list_display = [
        "name",
        "legal_name",
        "tax_id",
        "trade",
        "point_price",
        "store_count",
        "is_active",
    ]
    list_filter = ["trade", "is_active"]
    search_fields = ["name", "legal_name", "tax_id", "code"]
    inlines = [StoreInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "trade", "is_active", "joined_at"]}),
        (_("Legal entity"), {"fields": ["legal_name", "tax_id", "contact_email", "contact_phone"]}),
        (_("Settlement"), {"fields": ["point_price"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_store_count=Count("stores", distinct=True))

    @admin.display(description=_("stores"), ordering="_store_count")
    def store_count(self, obj):
        return obj._store_count


class TerminalInline(TabularInline):
    model = Terminal
    extra = 0
    fields = ["code", "name", "is_active", "last_seen_at"]
    readonly_fields = ["last_seen_at"]
    show_change_link = True


@admin.register(Store)
class StoreAdmin(ImportButtonMixin, ModelAdmin):
    """Stores; "Import a file" takes CSV or XLSX, creates new stores and updates known ones by
    code, after a summary of what would change."""

    import_job_model = DataImport
    import_job_initial = {"kind": DataImport.Kind.STORES}
    list_display = ["name", "code", "partner", "channel", "city", "timezone", "is_active"]
    list_filter = ["channel", "is_active", "partner", "city"]
    search_fields = ["name", "code", "address", "city", "partner__name"]
    list_select_related = ["partner"]
    autocomplete_fields = ["partner"]
    inlines = [TerminalInline]


class TerminalAPIKeyInline(TabularInline):
    model = TerminalAPIKey
    extra = 0
    fields = ["prefix", "name", "created", "expiry_date", "last_used_at", "revoked"]
    readonly_fields = ["prefix", "name", "created", "last_used_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # keys are issued with the action, which shows the key once


@admin.register(Terminal)
class TerminalAdmin(ModelAdmin):
    list_display = ["code", "name", "store", "partner_name", "is_active", "last_seen_at"]
    list_filter = ["is_active", "store__channel", "store__partner"]
    search_fields = ["code", "name", "store__name", "store__partner__name"]
    list_select_related = ["store__partner"]
    autocomplete_fields = ["store"]
    readonly_fields = ["last_seen_at", "created_at"]
    inlines = [TerminalAPIKeyInline]
    actions = ["issue_key"]

    @admin.display(description=_("partner"), ordering="store__partner__name")
    def partner_name(self, obj):
        return obj.store.partner.name

    @admin.action(description=_("Issue a new API key"), permissions=["change"])
    def issue_key(self, request, queryset):
        for terminal in queryset:
            api_key, raw_key = terminal_key_issue(terminal=terminal)
            self.message_user(
                request,
                format_html(
                    _(
                        "New key for {terminal}: <code>{key}</code>. Store it now: it is not shown again."
                    ),
                    terminal=terminal.code,
                    key=raw_key,
                ),
                messages.WARNING,
            )


@admin.register(TerminalAPIKey)
class TerminalAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "terminal", "last_used_at"]
    list_filter = ["revoked", "created"]
    search_fields = ["name", "prefix", "terminal__code"]
    list_select_related = ["terminal"]
    autocomplete_fields = ["terminal"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset:
            terminal_key_revoke(key=key)
        self.message_user(request, _("Revoked %(count)d keys.") % {"count": queryset.count()})
