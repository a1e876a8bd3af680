"""The back office for the coalition: partners, stores, terminals, cards, catalogue, ledger."""

from __future__ import annotations

import csv
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from loyalty.audit import files_by_pk as audit_files_by_pk
from loyalty.errors import LoyaltyError
from loyalty.models import (
    Account,
    AuditEvent,
    Brand,
    Card,
    CardBatch,
    CardImport,
    CardOperation,
    Category,
    CertificateEntry,
    CertificateSeries,
    Counter,
    CounterValue,
    Currency,
    CustomerEvent,
    DataImport,
    EventType,
    FavouriteProduct,
    GiftCertificate,
    Hold,
    LedgerEntry,
    Lot,
    Partner,
    PeerThanks,
    Posting,
    Product,
    ProductList,
    Programme,
    Receipt,
    ReceiptExchange,
    ReceiptLine,
    ReceiptTierAward,
    Refund,
    StaffProfile,
    Store,
    Terminal,
    TerminalAPIKey,
    Tier,
    TierChange,
    TierMembership,
)
from loyalty.resources import CardResource, ProductResource, StoreResource
from loyalty.services.card_emission import (
    MAX_EMISSION,
    card_batch_emit,
    card_batch_export_rows,
)
from loyalty.services.card_operations import (
    card_activate,
    card_block,
    card_mark_lost,
    card_replace,
    card_unblock,
)
from loyalty.services.certificates import (
    CERTIFICATE_CSV_HEADER,
    certificate_activate,
    certificate_block,
    certificate_export_rows,
    certificate_unblock,
    certificates_emit,
)
from loyalty.services.certificates import MAX_EMISSION as CERTIFICATE_MAX_EMISSION
from loyalty.services.certificates import normalize_code as normalize_certificate_code
from loyalty.services.terminals import terminal_key_issue, terminal_key_revoke
from loyalty.tasks import card_import_run_task, data_import_run_task

# Terminals have keys of their own (TerminalAPIKey); the library's generic keys are not used.
admin.site.unregister(APIKey)

User = get_user_model()


class ReadOnlyAdminMixin:
    """For ledger rows and other records that only services write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CurrencyInline(admin.TabularInline):
    model = Currency
    extra = 0


class TierInline(admin.TabularInline):
    model = Tier
    extra = 0
    ordering = ["rank"]


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
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
                ]
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


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0
    fields = ["code", "name", "channel", "city", "timezone", "is_active"]
    show_change_link = True


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
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


class TerminalInline(admin.TabularInline):
    model = Terminal
    extra = 0
    fields = ["code", "name", "is_active", "last_seen_at"]
    readonly_fields = ["last_seen_at"]
    show_change_link = True


class FileImportMixin(ImportMixin):
    """The admin's file import (django-import-export), CSV or XLSX, with a preview of every row.

    An import adds rows and (products, stores) changes them, so it needs both rights; the
    library would otherwise offer it to anyone who may only view the list."""

    import_formats = [CSV, XLSX]

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)


@admin.register(Store)
class StoreAdmin(FileImportMixin, admin.ModelAdmin):
    """Stores; "Import" takes CSV or XLSX, creates new stores and updates known ones by code."""

    resource_classes = [StoreResource]
    list_display = ["name", "code", "partner", "channel", "city", "timezone", "is_active"]
    list_filter = ["channel", "is_active", "partner", "city"]
    search_fields = ["name", "code", "address", "city", "partner__name"]
    list_select_related = ["partner"]
    autocomplete_fields = ["partner"]
    inlines = [TerminalInline]


class TerminalAPIKeyInline(admin.TabularInline):
    model = TerminalAPIKey
    extra = 0
    fields = ["prefix", "name", "created", "expiry_date", "last_used_at", "revoked"]
    readonly_fields = ["prefix", "name", "created", "last_used_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # keys are issued with the action, which shows the key once


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
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


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
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
class PeerThanksAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Given on the staff page (/staff/thanks/) only; read-only here."""

    list_display = ["given_at", "giver", "receiver", "amount", "currency", "reason"]
    list_filter = ["currency"]
    search_fields = ["reason", "giver__last_name", "receiver__last_name"]
    list_select_related = ["giver", "receiver", "currency"]
    date_hierarchy = "given_at"


@admin.register(CardBatch)
class CardBatchAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "card_type",
        "source",
        "prefix",
        "check_digit",
        "card_count",
        "created_at",
        "emit_link",
    ]
    list_filter = ["card_type", "source", "check_digit"]
    search_fields = ["name", "code", "prefix"]
    readonly_fields = ["created_by", "created_at"]

    actions = ["export_cards"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_card_count=Count("cards"))

    @admin.display(description=_("cards"), ordering="_card_count")
    def card_count(self, obj):
        return obj._card_count

    @admin.display(description=_("emit"))
    def emit_link(self, obj):
        url = reverse("admin:loyalty_cardbatch_emit", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Emit cards"))

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/emit/",
                self.admin_site.admin_view(self.emit_view),
                name="loyalty_cardbatch_emit",
            ),
        ]
        return urls + super().get_urls()

    def emit_view(self, request, object_id):
        """Ask how many cards to create in the batch, then create them."""
        batch = get_object_or_404(CardBatch, pk=object_id)
        if not self.has_add_permission(request) or not self.has_change_permission(request, batch):
            raise PermissionDenied
        form = CardEmitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                counters = card_batch_emit(batch=batch, count=form.cleaned_data["count"])
            except ValidationError as exc:
                form.add_error("count", exc)
            else:
                self.message_user(
                    request,
                    _("%(count)s cards emitted in %(batch)s.")
                    % {"count": len(counters), "batch": batch.code},
                    messages.SUCCESS,
                )
                return redirect("admin:loyalty_cardbatch_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "batch": batch,
            "form": form,
            "title": _("Emit cards: %(batch)s") % {"batch": batch},
        }
        return TemplateResponse(request, "admin/loyalty/cardbatch/emit.html", context)

    @admin.action(description=_("Export the cards as CSV for the printing house"))
    def export_cards(self, request, queryset):
        def lines():
            buffer = _LineBuffer()
            writer = csv.writer(buffer)
            for index, batch in enumerate(queryset.order_by("code")):
                for row_index, row in enumerate(card_batch_export_rows(batch)):
                    if index and not row_index:
                        continue  # one header for the whole file
                    writer.writerow(row)
                    yield buffer.pop()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = queryset.first().code if queryset.count() == 1 else "cards"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


class _LineBuffer:
    """A file-like target for ``csv.writer`` that hands each written line back."""

    def __init__(self):
        self._text = ""

    def write(self, text):
        self._text += text

    def pop(self):
        text, self._text = self._text, ""
        return text


class CardEmitForm(forms.Form):
    count = forms.IntegerField(label=_("number of cards"), min_value=1, max_value=MAX_EMISSION)


class CertificateEmitForm(forms.Form):
    count = forms.IntegerField(
        label=_("number of certificates"), min_value=1, max_value=CERTIFICATE_MAX_EMISSION
    )


@admin.register(CertificateSeries)
class CertificateSeriesAdmin(admin.ModelAdmin):
    """Series of gift cards and certificates: emission and the printing house's CSV."""

    list_display = [
        "name",
        "code",
        "kind",
        "nominal",
        "activation",
        "lifetime_days",
        "valid_until",
        "single_use",
        "certificate_count",
        "emit_link",
    ]
    list_filter = ["kind", "activation", "single_use", "programme"]
    search_fields = ["name", "code"]
    filter_horizontal = ["partners"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["export_certificates"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_count=Count("certificates"))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("certificates"), ordering="_count")
    def certificate_count(self, obj):
        return obj._count

    @admin.display(description=_("emit"))
    def emit_link(self, obj):
        url = reverse("admin:loyalty_certificateseries_emit", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Emit certificates"))

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/emit/",
                self.admin_site.admin_view(self.emit_view),
                name="loyalty_certificateseries_emit",
            ),
        ]
        return urls + super().get_urls()

    def emit_view(self, request, object_id):
        series = get_object_or_404(CertificateSeries, pk=object_id)
        if not self.has_change_permission(request, series):
            raise PermissionDenied
        form = CertificateEmitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                made = certificates_emit(series, form.cleaned_data["count"], user=request.user)
            except ValidationError as exc:
                form.add_error("count", exc)
            else:
                self.message_user(
                    request,
                    _("%(count)s certificates emitted in %(series)s.")
                    % {"count": len(made), "series": series.code},
                    messages.SUCCESS,
                )
                return redirect("admin:loyalty_certificateseries_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "series": series,
            "form": form,
            "title": _("Emit certificates: %(series)s") % {"series": series},
        }
        return TemplateResponse(request, "admin/loyalty/certificateseries/emit.html", context)

    @admin.action(description=_("Export the certificates as CSV for the printing house"))
    def export_certificates(self, request, queryset):
        def lines():
            buffer = _LineBuffer()
            writer = csv.writer(buffer)
            writer.writerow(CERTIFICATE_CSV_HEADER)
            yield buffer.pop()
            for row in certificate_export_rows(queryset):
                writer.writerow(row)
                yield buffer.pop()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = queryset.first().code if queryset.count() == 1 else "certificates"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


class CertificateEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CertificateEntry
    fields = ["created_at", "kind", "amount", "balance_after", "receipt", "partner", "user", "note"]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]
    extra = 0


class CertificateBlockForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=300)


@admin.register(GiftCertificate)
class GiftCertificateAdmin(admin.ModelAdmin):
    """Gift cards and certificates: balance, life and their ledger; sell, block, unblock."""

    list_display = [
        "code",
        "series",
        "status",
        "nominal",
        "balance",
        "activated_at",
        "expires_at",
        "customer",
    ]
    list_filter = ["status", "series__kind", "series"]
    search_fields = ["code", "customer__phone", "customer__last_name"]
    list_select_related = ["series", "customer"]
    readonly_fields = [
        "series",
        "code",
        "status",
        "nominal",
        "balance",
        "activated_at",
        "expires_at",
        "blocked_reason",
        "created_at",
    ]
    fields = readonly_fields[:2] + ["customer"] + readonly_fields[2:]
    autocomplete_fields = ["customer"]
    inlines = [CertificateEntryInline]
    actions = ["activate", "block", "unblock"]

    def has_add_permission(self, request):
        return False  # certificates are emitted from their series

    def has_delete_permission(self, request, obj=None):
        return False  # money history: block instead

    def get_search_results(self, request, queryset, search_term):
        term = normalize_certificate_code(search_term)
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if term:
            queryset |= self.get_queryset(request).filter(code=term)  # still theirs only
        return queryset, duplicates

    @admin.action(description=_("Activate (sold) the selected certificates"))
    def activate(self, request, queryset):
        done, refused = 0, []
        for certificate in queryset.select_related("series"):
            try:
                certificate_activate(certificate, user=request.user)
                done += 1
            except LoyaltyError as exc:
                refused.append(f"{certificate.code}: {exc.detail}")
        self._report(request, done, refused)

    @admin.action(description=_("Block the selected certificates"))
    def block(self, request, queryset):
        form = CertificateBlockForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "queryset": queryset,
                "form": form,
                "action": "block",
                "title": _("Block certificates"),
            }
            return TemplateResponse(request, "admin/loyalty/giftcertificate/block.html", context)
        done, refused = 0, []
        for certificate in queryset:
            try:
                certificate_block(certificate, form.cleaned_data["reason"], user=request.user)
                done += 1
            except LoyaltyError as exc:
                refused.append(f"{certificate.code}: {exc.detail}")
        self._report(request, done, refused)
        return None

    @admin.action(description=_("Unblock the selected certificates"))
    def unblock(self, request, queryset):
        done, refused = 0, []
        for certificate in queryset:
            try:
                certificate_unblock(certificate, user=request.user)
                done += 1
            except LoyaltyError as exc:
                refused.append(f"{certificate.code}: {exc.detail}")
        self._report(request, done, refused)

    def _report(self, request, done: int, refused: list[str]) -> None:
        if done:
            self.message_user(request, _("%(count)s certificates changed.") % {"count": done})
        for line in refused[:20]:
            self.message_user(request, line, messages.ERROR)


@admin.register(CertificateEntry)
class CertificateEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "certificate", "kind", "amount", "balance_after", "partner"]
    list_filter = ["kind", "partner"]
    search_fields = ["certificate__code", "receipt__receipt_id"]
    list_select_related = ["certificate", "partner"]
    date_hierarchy = "created_at"


class ImportJobAdmin(admin.ModelAdmin):
    """A background import (``ImportJob``): uploaded here, run by a Celery worker. Its list and
    page show the progress and reload themselves while a job is queued or running."""

    change_list_template = "admin/loyalty/import_job/change_list.html"
    change_form_template = "admin/loyalty/import_job/change_form.html"
    list_filter = ["status"]
    # What the uploader fills in; the rest is written by the worker.
    upload_fields: list[str] = ["file"]
    progress_fields: list[str] = []
    task = None
    refresh_seconds = 5

    def get_fields(self, request, obj=None):
        return self.upload_fields if obj is None else [*self.upload_fields, *self.progress_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [*self.upload_fields, *self.progress_fields]

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record of what happened; only the worker updates it

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        task = type(self).task
        transaction.on_commit(lambda: task.delay(obj.pk))

    def changelist_view(self, request, extra_context=None):
        running = self.model.objects.filter(status__in=self.model.RUNNING).exists()
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if running else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        running = job is not None and job.is_running
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if running else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CardImport)
class CardImportAdmin(ImportJobAdmin):
    """Large card files: uploaded here, imported by a Celery worker; the list shows progress."""

    list_display = [
        "file",
        "batch",
        "status",
        "rows_checked",
        "cards_created",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["batch", "created_by"]
    autocomplete_fields = ["batch"]
    upload_fields = ["file", "batch"]
    progress_fields = [
        "status",
        "rows_checked",
        "cards_created",
        "error_count",
        "errors",
        "created_by",
        "created_at",
        "finished_at",
    ]
    task = card_import_run_task


@admin.register(DataImport)
class DataImportAdmin(ImportJobAdmin):
    """Large product catalogue and store files, imported by a Celery worker."""

    list_display = [
        "file",
        "kind",
        "partner",
        "status",
        "rows_checked",
        "created",
        "updated",
        "unchanged",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["partner", "created_by"]
    autocomplete_fields = ["partner"]
    upload_fields = ["kind", "file", "partner"]
    progress_fields = [
        "status",
        "rows_checked",
        "created",
        "updated",
        "unchanged",
        "error_count",
        "errors",
        "created_by",
        "created_at",
        "finished_at",
    ]
    task = data_import_run_task


class CardBlockForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=300,
        help_text=_("Shown to operators; the customer keeps the points."),
    )


class CardReplaceForm(forms.Form):
    new_number = forms.CharField(
        label=_("number of the new card"),
        max_length=32,
        help_text=_("A card not given to anyone else yet, or another card of the same customer."),
    )


class CardOperationInline(ReadOnlyAdminMixin, admin.TabularInline):
    """What was done to the card, by whom and why (written by the operations only)."""

    model = CardOperation
    fk_name = "card"
    fields = ["at", "kind", "actor", "reason", "details"]
    readonly_fields = fields
    ordering = ["-at", "-pk"]
    extra = 0
    verbose_name_plural = _("operations on this card")


@admin.register(Card)
class CardAdmin(FileImportMixin, admin.ModelAdmin):
    """Cards; "Import" takes a batch as CSV or XLSX with a preview of every row."""

    resource_classes = [CardResource]
    list_display = [
        "number",
        "card_type",
        "status",
        "customer",
        "batch",
        "issued_at",
        "activated_at",
    ]
    list_filter = ["status", "card_type", "is_virtual", "programme", "batch"]
    search_fields = ["number", "customer__phone", "customer__last_name"]
    list_select_related = ["customer", "batch"]
    autocomplete_fields = ["customer", "batch", "replaced_by"]
    readonly_fields = ["created_at"]
    date_hierarchy = "issued_at"
    fieldsets = [
        (None, {"fields": ["number", "card_type", "programme", "batch", "is_virtual"]}),
        (_("Holder and status"), {"fields": ["customer", "status", "block_reason", "replaced_by"]}),
        (_("Dates"), {"fields": ["issued_at", "activated_at", "blocked_at", "created_at"]}),
    ]
    actions = ["activate", "block", "mark_lost", "unblock", "replace"]
    inlines = [CardOperationInline]
    # Once a card exists, its status changes only through the actions (and their services).
    operation_fields = ["status", "block_reason", "replaced_by", "blocked_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, *self.operation_fields] if obj is not None else fields

    def _each(self, request, queryset, operation, done_message) -> None:
        """Run ``operation`` on every selected card; tell how many worked and why others not."""
        done = 0
        for card in queryset.order_by("pk"):
            try:
                operation(card)
            except LoyaltyError as exc:
                self.message_user(
                    request,
                    _("Card %(number)s: %(problem)s") % {"number": card.number, "problem": exc},
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    def _form_page(self, request, form, cards, title, action, button):
        return TemplateResponse(
            request,
            "admin/loyalty/card/operation.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "cards": cards,
                "opts": self.model._meta,
                "action": action,
                "button": button,
            },
        )

    @admin.action(description=_("Activate the selected cards"), permissions=["change"])
    def activate(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda card: card_activate(card=card, user=request.user),
            _("%(count)s card(s) activated."),
        )

    @admin.action(description=_("Block the selected cards (with a reason)"), permissions=["change"])
    def block(self, request, queryset):
        cards = list(queryset.order_by("pk"))
        form = CardBlockForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return self._form_page(request, form, cards, _("Block cards"), "block", _("Block"))
        reason = form.cleaned_data["reason"]
        self._each(
            request,
            queryset,
            lambda card: card_block(card=card, reason=reason, user=request.user),
            _("%(count)s card(s) blocked: the register refuses them, the points stay."),
        )
        return None

    @admin.action(description=_("Mark the selected cards lost"), permissions=["change"])
    def mark_lost(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda card: card_mark_lost(card=card, user=request.user),
            _("%(count)s card(s) marked lost: the register refuses them, the points stay."),
        )

    @admin.action(description=_("Unblock the selected cards"), permissions=["change"])
    def unblock(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda card: card_unblock(card=card, user=request.user),
            _("%(count)s card(s) unblocked."),
        )

    @admin.action(description=_("Replace the selected card with a new one"), permissions=["change"])
    def replace(self, request, queryset):
        cards = list(queryset.order_by("pk")[:2])
        if len(cards) != 1:
            self.message_user(request, _("Select exactly one card to replace."), messages.WARNING)
            return None
        old = cards[0]
        form = CardReplaceForm(request.POST if "new_number" in request.POST else None)
        if form.is_valid():
            try:
                new = card_replace(
                    old_card=old, new_card_number=form.cleaned_data["new_number"], user=request.user
                )
            except LoyaltyError as exc:
                form.add_error("new_number", str(exc))
            else:
                self.message_user(
                    request,
                    _(
                        "Card %(old)s is replaced by %(new)s: the customer and the points are "
                        "on the new card, the register refuses the old one."
                    )
                    % {"old": old.number, "new": new.number},
                    messages.SUCCESS,
                )
                return None
        return self._form_page(request, form, cards, _("Replace a card"), "replace", _("Replace"))


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "owner",
        "purpose",
        "currency",
        "balance",
        "pending",
        "held",
        "updated_at",
    ]
    list_filter = ["kind", "purpose", "currency"]
    search_fields = ["customer__phone", "customer__last_name", "partner__name"]
    list_select_related = ["customer", "partner", "currency"]

    @admin.display(description=_("owner"))
    def owner(self, obj):
        return obj.customer or obj.partner or _("programme")


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "bucket", "amount", "balance_after", "lot", "active_at", "expires_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "posting",
        "account",
        "bucket",
        "amount",
        "balance_after",
        "expires_at",
        "recorded_at",
    ]
    list_filter = ["bucket", "posting__kind", "currency"]
    search_fields = ["account__customer__phone", "posting__cause_ref"]
    list_select_related = ["posting", "account__customer", "account__partner", "account__currency"]


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
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


class ReceiptLineInline(ReadOnlyAdminMixin, admin.TabularInline):
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


class ReceiptExchangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReceiptExchange
    fields = ["code", "promotion", "currency", "cost", "lines", "returned_by"]
    readonly_fields = fields
    extra = 0


class ReceiptTierAwardInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReceiptTierAward
    fields = ["promotion", "from_tier", "to_tier", "amount_added", "undone_by"]
    readonly_fields = fields
    extra = 0


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "receipt_id",
        "partner",
        "store",
        "terminal",
        "customer",
        "status",
        "total",
        "to_pay",
        "points_earned",
        "sold_at",
    ]
    list_filter = ["status", "is_offline", "is_flagged", "partner"]
    search_fields = ["receipt_id", "customer__phone", "card__number"]
    list_select_related = ["partner", "store", "terminal", "customer"]
    date_hierarchy = "sold_at"
    inlines = [ReceiptLineInline, ReceiptExchangeInline, ReceiptTierAwardInline, RefundInline]
    exclude = ["result"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "receipt",
        "terminal",
        "amount",
        "points_returned",
        "points_reversed",
        "shortfall",
        "debt",
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["refund_id", "receipt__receipt_id"]
    list_select_related = ["receipt", "terminal"]
    date_hierarchy = "created_at"
    exclude = ["result"]


@admin.register(Lot)
class LotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "entry",
        "account",
        "kind",
        "state",
        "remaining",
        "amount",
        "active_at",
        "expires_at",
    ]
    list_filter = ["kind", "state", "account__currency"]
    search_fields = ["account__customer__phone", "account__customer__public_id"]
    list_select_related = ["account__customer", "account__currency"]
    date_hierarchy = "expires_at"


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["receipt_id", "terminal", "account", "points", "status", "expires_at"]
    list_filter = ["status"]
    search_fields = ["receipt_id", "account__customer__phone"]
    list_select_related = ["terminal", "account__customer", "account__currency"]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "programme", "rank", "threshold"]
    list_filter = ["programme"]
    search_fields = ["name", "code"]
    ordering = ["programme", "rank"]


@admin.register(TierMembership)
class TierMembershipAdmin(admin.ModelAdmin):
    list_display = ["customer", "programme", "tier", "qualifying_amount", "since", "is_manual"]
    list_filter = ["programme", "tier", "is_manual"]
    search_fields = ["customer__phone", "customer__last_name"]
    list_select_related = ["customer", "programme", "tier"]
    autocomplete_fields = ["customer"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class FavouriteProductAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class CounterAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "programme", "unit", "event_type", "period", "is_active"]
    list_filter = ["programme", "unit", "period", "is_active"]
    search_fields = ["name", "code"]


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    """The kinds of events external systems may report through ``POST /api/v1/events``."""

    list_display = ["code", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]


@admin.register(CustomerEvent)
class CustomerEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Recorded by the API only; read-only here."""

    list_display = ["received_at", "type", "event_id", "customer", "terminal", "occurred_at"]
    list_filter = ["type", "partner"]
    search_fields = ["event_id", "customer__phone", "customer__public_id"]
    list_select_related = ["type", "customer", "terminal"]
    date_hierarchy = "received_at"


@admin.register(CounterValue)
class CounterValueAdmin(admin.ModelAdmin):
    list_display = ["counter", "customer", "period_start", "value", "updated_at"]
    list_filter = ["counter"]
    search_fields = ["customer__phone", "customer__last_name"]
    list_select_related = ["counter", "customer"]
    autocomplete_fields = ["customer"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "parent"]
    list_filter = [("parent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(FileImportMixin, admin.ModelAdmin):
    """Products; "Import" takes an ERP's catalogue as CSV or XLSX: products are created or
    updated by (partner, SKU), with a preview of every row."""

    resource_classes = [ProductResource]
    list_display = ["sku", "name", "category", "brand", "partner", "is_active", "is_gift_card"]
    list_filter = ["is_active", "is_gift_card", "partner", "brand"]
    search_fields = ["sku", "name"]
    list_select_related = ["category", "brand", "partner"]
    autocomplete_fields = ["category", "brand", "partner"]


@admin.register(ProductList)
class ProductListAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "partner"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["products", "partner"]


class StaffProfileInline(admin.StackedInline):
    """The partner a staff user works for: partner staff see only that partner's objects."""

    model = StaffProfile
    can_delete = False
    fields = ["partner", "customer"]
    autocomplete_fields = ["partner", "customer"]


# Django's user admin, with the staff profile on the same page.
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [*DjangoUserAdmin.inlines, StaffProfileInline]
    list_display = [*DjangoUserAdmin.list_display, "staff_partner"]
    list_select_related = ["staff_profile__partner"]

    @admin.display(description=_("works for"), ordering="staff_profile__partner__name")
    def staff_partner(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.partner if profile is not None else None


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The auditor's browse of the trail: read-only for everyone, superusers included (the
    rows are append-only, and a database trigger refuses changes anyway)."""

    list_display = [
        "at",
        "username",
        "address",
        "source",
        "action",
        "content_type",
        "object_link",
    ]
    list_filter = [
        "action",
        "source",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        "at",
    ]
    search_fields = ["object_repr", "username", "address", "=object_id", "note"]
    list_select_related = ["content_type"]
    date_hierarchy = "at"
    actions = None
    fields = [
        "at",
        "user",
        "username",
        "address",
        "source",
        "action",
        "content_type",
        "object_id",
        "object_link",
        "note",
        "changes_table",
    ]
    readonly_fields = fields

    @admin.display(description=_("object"), ordering="object_repr")
    def object_link(self, event):
        model = event.content_type.model_class() if event.content_type_id else None
        if model is None or not event.object_id or not audit_files_by_pk(model):
            return event.object_repr
        try:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                args=[event.object_id],
            )
        except NoReverseMatch:
            return event.object_repr
        return format_html('<a href="{}">{}</a>', url, event.object_repr)

    @admin.display(description=_("before and after"))
    def changes_table(self, event):
        keys = list(dict.fromkeys([*event.before, *event.after]))
        if not keys:
            return "—"
        model = event.content_type.model_class() if event.content_type_id else None
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    _field_label(model, key),
                    _shown(event.before.get(key, "")),
                    _shown(event.after.get(key, "")),
                )
                for key in keys
            ),
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            rows,
        )


def _field_label(model, key: str) -> str:
    """A stored key (an attname such as ``store_id``) as the field's verbose name."""
    if model is not None:
        for field in model._meta.concrete_fields + model._meta.many_to_many:
            if key in (field.name, field.attname):
                return f"{field.verbose_name} ({key})"
    return key


def _shown(value) -> str:
    if value is None:
        return "∅"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
