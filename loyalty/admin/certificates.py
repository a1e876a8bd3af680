"""Gift cards and certificates: series, emission, activation, blocking, their ledger."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from loyalty.admin.mixins import LineBuffer, ReadOnlyAdminMixin
from loyalty.errors import LoyaltyError
from loyalty.models import (
    CertificateEntry,
    CertificateSeries,
    GiftCertificate,
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


class CertificateEmitForm(forms.Form):
    count = forms.IntegerField(
        label=_("number of certificates"), min_value=1, max_value=CERTIFICATE_MAX_EMISSION
    )


@admin.register(CertificateSeries)
class CertificateSeriesAdmin(ModelAdmin):
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
            buffer = LineBuffer()
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


class CertificateEntryInline(ReadOnlyAdminMixin, TabularInline):
    model = CertificateEntry
    fields = ["created_at", "kind", "amount", "balance_after", "receipt", "partner", "user", "note"]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]
    extra = 0


class CertificateBlockForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=300)


@admin.register(GiftCertificate)
class GiftCertificateAdmin(ModelAdmin):
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
class CertificateEntryAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["created_at", "certificate", "kind", "amount", "balance_after", "partner"]
    list_filter = ["kind", "partner"]
    search_fields = ["certificate__code", "receipt__receipt_id"]
    list_select_related = ["certificate", "partner"]
    date_hierarchy = "created_at"
