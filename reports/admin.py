"""The reports in the admin: promotion back-tests (add one, it runs; re-run it; read its figures)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin

from loyalty.models import Store, staff_partner_id
from promotions.models import Promotion
from reports.models import Backtest
from reports.services.backtests import backtest_queue


class BacktestForm(forms.ModelForm):
    class Meta:
        model = Backtest
        fields = ["promotion", "since", "until", "stores"]

    def clean(self):
        cleaned = super().clean()
        promotion, stores = cleaned.get("promotion"), cleaned.get("stores")
        if promotion is not None and stores:
            partner = promotion.partner or promotion.programme.partner
            if partner is not None and any(store.partner_id != partner.pk for store in stores):
                self.add_error(
                    "stores",
                    forms.ValidationError(
                        _("Choose stores of the promotion's partner, %(partner)s."),
                        code="backtest_other_partner",
                        params={"partner": partner},
                    ),
                )
        return cleaned


@admin.register(Backtest)
class BacktestAdmin(ModelAdmin):
    form = BacktestForm
    list_display = [
        "promotion",
        "since",
        "until",
        "status",
        "receipts_examined",
        "receipts_fired",
        "customers_reached",
        "total_cost",
        "net_change",
        "created_at",
        "requested_by",
    ]
    list_filter = ["status", "promotion__programme"]
    search_fields = ["promotion__name", "promotion__code"]
    list_select_related = ["promotion", "requested_by"]
    autocomplete_fields = ["promotion", "stores"]
    date_hierarchy = "created_at"
    actions = ["rerun"]
    add_fieldsets = [(None, {"fields": ["promotion", "since", "until", "stores"]})]
    fieldsets = [
        (None, {"fields": ["promotion", "since", "until", "stores"]}),
        (
            _("Run"),
            {
                "fields": [
                    "status",
                    "requested_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "error",
                ]
            },
        ),
        (
            _("What the promotion gives"),
            {
                "fields": [
                    "receipts_examined",
                    "receipts_fired",
                    "customers_reached",
                    "discount_amount",
                    "points_worth",
                    "total_cost",
                    "points_table",
                    "bands_table",
                ]
            },
        ),
        (
            _("Change against the same receipts without it"),
            {"fields": ["discount_change", "points_worth_change", "net_change"]},
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_queryset(self, request):
        backtests = super().get_queryset(request)
        partner_id = staff_partner_id(request.user)
        if partner_id is not None:
            backtests = backtests.filter(promotion__partner_id=partner_id)
        return backtests

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        partner_id = staff_partner_id(request.user)
        if db_field.name == "promotion" and partner_id is not None:
            kwargs["queryset"] = Promotion.objects.filter(partner_id=partner_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        partner_id = staff_partner_id(request.user)
        if db_field.name == "stores" and partner_id is not None:
            kwargs["queryset"] = Store.objects.filter(partner_id=partner_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # A back-test records one question and its answer: it is never edited, only run again.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.requested_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:  # after the stores are saved: the run reads them
            backtest_queue(backtest=form.instance)
            self.message_user(
                request,
                _("The back-test is queued; its figures show here once it has run."),
                messages.INFO,
            )

    @admin.display(description=_("points by currency"))
    def points_table(self, obj):
        if not obj.points:
            return "–"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("currency"),
            _("points it gives"),
            _("their worth, RUB"),
            _("change of all points"),
            _("change of their worth, RUB"),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    code,
                    *(
                        localize(Decimal(figures[key]))
                        for key in ("points", "worth", "points_change", "worth_change")
                    ),
                )
                for code, figures in sorted(obj.points.items())
            ),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description=_("by band"))
    def bands_table(self, obj):
        """What each band of a banded reward gave (only for a promotion with bands)."""
        if not obj.bands:
            return "–"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("reward"),
            _("band"),
            _("value"),
            _("receipts"),
            _("it gave"),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            (
                (
                    row["reward"],
                    _band_range(row),
                    localize(Decimal(row["value"])),
                    row["receipts"],
                    localize(Decimal(row["amount"])),
                    row["unit"],
                )
                for row in obj.bands
            ),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.action(description=_("Run the selected back-tests again"), permissions=["change"])
    def rerun(self, request, queryset):
        count = 0
        for backtest in queryset:
            backtest_queue(backtest=backtest)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d back-test queued again.", "%(count)d back-tests queued again.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )


def _band_range(row: dict) -> str:
    """ "from 100.00 to below 500.00", or "from 500.00" for the last band."""
    shown = {"lower": localize(Decimal(row["from"])), "upper": row["to"]}
    if row["to"] is None:
        return str(_("from %(lower)s") % shown)
    shown["upper"] = localize(Decimal(row["to"]))
    return str(_("from %(lower)s to below %(upper)s") % shown)
