"""The reports in the admin: promotion back-tests (add one, it runs in the background; its
page shows the progress, then the figures per promotion and the refusals; run it again)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from loyalty.models import Store, staff_partner_id
from loyalty.money import readable
from promotions.backtest import note_text, refusal_text
from promotions.models import Promotion
from reports.models import Backtest
from reports.services.backtests import backtest_progress, backtest_queue

EDITABLE = ["promotion", "companions", "since", "until", "stores"]

# What the back-test reads of the customers at each sale (docs/marketer-guide.md, "Back-test").
CUSTOMER_NOTE = _(
    "Each customer's segments are those of the moment of each sale, as the segments' "
    "membership history records them (a member of a segment without history counts from the "
    "day they were added). Their tier, card series, favourite products and memorable dates are "
    "those stored now."
)


def back_office_time(moment) -> str:
    """A moment as the back office reads it, its zone named: one rule for every time shown
    with a back-test (the simulator's moments are store time, and say so)."""
    if moment is None:
        return "–"
    local = timezone.localtime(moment)
    return gettext("%(moment)s (back office time, %(zone)s)") % {
        "moment": local.strftime("%Y-%m-%d %H:%M:%S"),
        "zone": settings.TIME_ZONE,
    }


class BacktestForm(forms.ModelForm):
    class Meta:
        model = Backtest
        fields = EDITABLE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone_help = _(
            "Back office time (%(zone)s). Promotion days and hours are read on each store's "
            "clock (store time), as in the simulator."
        ) % {"zone": settings.TIME_ZONE}
        for name in ("since", "until"):
            if name in self.fields:
                field = self.fields[name]
                field.help_text = " ".join(filter(None, [str(field.help_text), str(zone_help)]))

    def clean(self):
        cleaned = super().clean()
        promotion, stores = cleaned.get("promotion"), cleaned.get("stores")
        companions = cleaned.get("companions")
        if promotion is not None and companions:
            others = [p for p in companions if p.programme_id != promotion.programme_id]
            if others:
                self.add_error(
                    "companions",
                    forms.ValidationError(
                        _("Choose promotions of the same programme as %(promotion)s."),
                        code="backtest_other_programme",
                        params={"promotion": promotion},
                    ),
                )
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
    change_form_template = "admin/reports/backtest/change_form.html"
    list_display = [
        "promotion",
        "since",
        "until",
        "run_state",
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
    autocomplete_fields = ["promotion", "companions", "stores"]
    date_hierarchy = "created_at"
    actions = ["rerun"]
    add_fieldsets = [(None, {"fields": EDITABLE, "description": CUSTOMER_NOTE})]
    fieldsets = [
        (None, {"fields": EDITABLE, "description": CUSTOMER_NOTE}),
        (
            _("Run"),
            {
                "fields": [
                    "run_state",
                    "progress",
                    "requested_by",
                    "run_times",
                    "error",
                ]
            },
        ),
        (
            _("By promotion"),
            {"fields": ["promotions_table"]},
        ),
        (
            _("What the promotions give together"),
            {
                "fields": [
                    "receipts_examined",
                    "receipts_fired",
                    "occasions_rewarded",
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
        if db_field.name == "companions" and partner_id is not None:
            kwargs["queryset"] = Promotion.objects.filter(partner_id=partner_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="reports_backtest_progress",
            ),
            path(
                "<int:object_id>/run-again/",
                self.admin_site.admin_view(self.run_again_view),
                name="reports_backtest_run_again",
            ),
        ]
        return own + super().get_urls()

    def _visible(self, request, object_id: int) -> Backtest:
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def progress_view(self, request, object_id: int):
        """The run's state as JSON, which the back-test's page polls (never blocking it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(backtest_progress(self._visible(request, object_id)))

    def run_again_view(self, request, object_id: int):
        """Queue the back-test again (POST): after a failure, a stale run or new data."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        backtest = self._visible(request, object_id)
        backtest_queue(backtest=backtest)
        self.message_user(request, _("The back-test is queued again."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:reports_backtest_change", args=[backtest.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        backtest = self.get_object(request, object_id)
        if backtest is not None:
            extra_context["backtest_progress"] = backtest_progress(backtest)
            extra_context["progress_url"] = reverse(
                "admin:reports_backtest_progress", args=[backtest.pk]
            )
            extra_context["run_again_url"] = reverse(
                "admin:reports_backtest_run_again", args=[backtest.pk]
            )
            extra_context["can_run_again"] = self.has_change_permission(request)
        return super().change_view(request, object_id, form_url, extra_context)

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

    @admin.display(description=_("state"), ordering="status")
    def run_state(self, obj):
        if obj.is_stale():
            return gettext("stale: its worker stopped (run it again)")
        return obj.get_status_display()

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return format_html(
            '<progress id="backtest-bar" max="100" value="{}"></progress> '
            '<span id="backtest-progress">{}</span>',
            obj.percent_done,
            gettext("%(processed)s of %(total)s receipts")
            % {
                "processed": readable(Decimal(obj.processed or 0), 0),
                "total": readable(Decimal(obj.to_process or 0), 0),
            },
        )

    @admin.display(description=_("times"))
    def run_times(self, obj):
        rows = [
            (gettext("queued"), back_office_time(obj.queued_at)),
            (gettext("started"), back_office_time(obj.started_at)),
            (gettext("last sign of life"), back_office_time(obj.heartbeat_at)),
            (gettext("finished"), back_office_time(obj.finished_at)),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("figures by promotion"))
    def promotions_table(self, obj):
        if not obj.per_promotion:
            return "–"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th><th>{}</th><th>{}</th></tr>",
            _("promotion"),
            _("receipts where it fired"),
            _("occasions rewarded"),
            _("customers reached"),
            _("discount it gives"),
            _("points it gives"),
            _("counter steps it gives"),
            _("total cost, RUB"),
            _("notes"),
        )
        rows = []
        for row in obj.per_promotion:
            if row.get("refusal"):
                rows.append(
                    format_html(
                        '<tr><td>{}</td><td colspan="8"><strong>{}</strong> {}</td></tr>',
                        row["name"],
                        gettext("Not back-tested:"),
                        refusal_text(row["refusal"], row.get("refusal_params")),
                    )
                )
                continue
            points = ", ".join(f"{_shown(amount)} {code}" for code, amount in row["points"].items())
            notes = format_html_join(
                "", "<div>{}</div>", ((note_text(code, params),) for code, params in row["notes"])
            )
            rows.append(
                format_html(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                    "<td>{}</td><td>{}</td><td>{}</td></tr>",
                    row["name"],
                    row["receipts_fired"],
                    row["occasions_rewarded"],
                    row["customers_reached"],
                    _shown(row["discount_amount"]),
                    points or "–",
                    _shown(row.get("counter_steps") or "0"),
                    _shown(row["total_cost"]),
                    notes,
                )
            )
        return format_html(
            "<table>{}{}</table>", header, format_html_join("", "{}", ((r,) for r in rows))
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
                        _shown(figures[key])
                        for key in ("points", "worth", "points_change", "worth_change")
                    ),
                )
                for code, figures in sorted(obj.points.items())
            ),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description=_("by band"))
    def bands_table(self, obj):
        """What each band of the tested promotions' banded rewards gave (only for promotions
        with bands; a promotion refused for its bands shows its reason by promotion)."""
        if not obj.bands:
            return "–"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("promotion"),
            _("reward"),
            _("band"),
            _("value"),
            _("receipts"),
            _("it gave"),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            (
                (
                    row.get("promotion_name") or obj.promotion,
                    row["reward"],
                    _band_range(row),
                    _shown(row["value"]),
                    row["receipts"],
                    _shown(row["amount"]),
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


def _shown(text: str) -> str:
    """A figure stored as text ("1234.50") as people read it, with the places it was stored with
    and the page's separators ("1,234.50"; "1 234,50")."""
    places = len(text.split(".")[1]) if "." in text else 0
    return readable(Decimal(text), places)


def _band_range(row: dict) -> str:
    """ "from 100.00 to below 500.00", or "from 500.00" for the last band."""
    shown = {"lower": _shown(row["from"]), "upper": row["to"]}
    if row["to"] is None:
        return str(_("from %(lower)s") % shown)
    shown["upper"] = _shown(row["to"])
    return str(_("from %(lower)s to below %(upper)s") % shown)
