"""Prize draws: set up, schedule, run, verify and download their record."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline

from loyalty.errors import LoyaltyError
from loyalty.models import staff_partner_id
from loyalty.services.ledger import Actor
from promotions.admin.builder import PartnerListFilter
from promotions.draws import draw_cancel, draw_record, draw_run, draw_schedule, draw_verify
from promotions.models import Draw, DrawWinner


class DrawForm(forms.ModelForm):
    # Set by the admin for partner staff: the draw is their partner's, whatever is posted.
    forced_partner_id: int | None = None

    class Meta:
        model = Draw
        fields = ["programme"]  # the fieldsets add the others

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.forced_partner_id is not None:
            self.instance.partner_id = self.forced_partner_id

    def clean_seed(self):
        return (self.cleaned_data.get("seed") or "").strip().lower()

    def clean(self):
        cleaned = super().clean()
        partner = cleaned.get("partner")
        partner_id = self.forced_partner_id or (partner.pk if partner else None)
        stores = cleaned.get("stores")
        if partner_id is not None and stores and stores.exclude(partner_id=partner_id).exists():
            self.add_error("stores", _("Choose only stores of the draw's partner."))
        return cleaned


class DrawWinnerInline(TabularInline):
    model = DrawWinner
    extra = 0
    fields = ["place", "customer", "public_id", "ticket_no", "score", "posting"]
    readonly_fields = fields
    can_delete = False
    ordering = ["place"]

    @admin.display(description=_("public id"))
    def public_id(self, obj):
        return obj.customer.public_id

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Draw)
class DrawAdmin(ModelAdmin):
    """Prize draws: set up, schedule, run now, verify; once drawn, the record is read-only.

    Every change of state goes through ``promotions.draws``; partner staff see and run their
    partner's draws only."""

    form = DrawForm
    list_display = [
        "name",
        "status",
        "programme",
        "partner",
        "period_from",
        "period_to",
        "winners_count",
        "drawn_at",
    ]
    list_filter = [
        "status",
        ("programme", admin.RelatedOnlyFieldListFilter),
        ("partner", PartnerListFilter),
        "tickets_per",
    ]
    search_fields = ["name", "description", "tickets_digest", "winners__customer__public_id"]
    list_select_related = ["programme", "partner"]
    date_hierarchy = "period_to"
    autocomplete_fields = ["partner", "segment", "promotion", "prize_currency"]
    filter_horizontal = ["stores"]
    inlines = [DrawWinnerInline]
    actions = ["schedule", "run", "verify", "cancel"]
    change_form_template = "admin/promotions/draw/change_form.html"
    RECORD = [
        "drawn_at",
        "algorithm",
        "seed_shown",
        "seed_commitment",
        "tickets_count",
        "tickets_digest",
        "record_link",
    ]

    def get_fieldsets(self, request, obj=None):
        seed = ["seed"] if obj is None or obj.status == Draw.Status.DRAFT else ["seed_shown"]
        fieldsets = [
            (None, {"fields": ["programme", "partner", "name", "description", "status"]}),
            (
                _("Who qualifies"),
                {
                    "fields": [
                        "period_from",
                        "period_to",
                        "min_purchases",
                        "min_amount",
                        "stores",
                        "segment",
                        "promotion",
                        "tickets_per",
                    ]
                },
            ),
            (
                _("Prize"),
                {
                    "fields": [
                        "winners_count",
                        "prize_points",
                        "prize_currency",
                        "prize_lifetime_days",
                        "prize_description",
                    ]
                },
            ),
        ]
        if obj is not None and obj.is_drawn:
            fieldsets.append((_("Record of the draw"), {"fields": self.RECORD}))
        else:
            fieldsets.append((_("Seed"), {"fields": [*seed, "seed_commitment", "scheduled_at"]}))
        if obj is not None and obj.status == Draw.Status.CANCELLED:
            fieldsets[0][1]["fields"].append("cancelled_at")
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = ["status", "seed_commitment", "scheduled_at", "cancelled_at", *self.RECORD]
        if obj is not None and obj.status in (Draw.Status.DRAWN, Draw.Status.CANCELLED):
            # Final: the record, and the rules it was drawn by, never change.
            return [
                name for _title, box in self.get_fieldsets(request, obj) for name in box["fields"]
            ]
        if staff_partner_id(request.user) is not None:
            fields.append("partner")  # set by the form to their partner
        return fields

    @admin.display(description=_("seed"))
    def seed_shown(self, obj):
        if obj.is_drawn:
            return obj.seed
        if obj.seed:
            return _("fixed beforehand (shown once drawn)")
        return _("drawn at random at the draw")

    @admin.display(description=_("tickets"))
    def tickets_count(self, obj):
        return len(obj.ticket_list)

    @admin.display(description=_("the record (JSON)"))
    def record_link(self, obj):
        url = reverse("admin:promotions_draw_record", args=[quote(obj.pk)])
        return format_html('<a href="{}">{}</a>', url, _("download"))

    # Partner staff see and change their partner's draws only: the isolation policy
    # (loyalty.isolation, "promotions.Draw") scopes every list, page and choice.

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_drawn:
            return False  # its winners were paid: the record stays
        return super().has_delete_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        partner_id = staff_partner_id(request.user)
        if partner_id is not None:
            base = kwargs.get("form", self.form)
            kwargs["form"] = type(base.__name__, (base,), {"forced_partner_id": partner_id})
        return super().get_form(request, obj, change=change, **kwargs)

    # The draw's steps, each through its service: as actions on the list and buttons on a page.

    def get_urls(self):
        def view(name, method):
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(method),
                name=f"promotions_draw_{name}",
            )

        return [
            view("schedule", self.schedule_view),
            view("run", self.run_view),
            view("verify", self.verify_view),
            view("record", self.record_view),
        ] + super().get_urls()

    def _draw_or_404(self, request, object_id) -> Draw:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return obj

    def _step_view(self, request, object_id, step):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        draw = self._draw_or_404(request, object_id)
        if not self.has_change_permission(request, draw):
            raise PermissionDenied
        step(request, [draw])
        return redirect("admin:promotions_draw_change", quote(draw.pk))

    def schedule_view(self, request, object_id):
        return self._step_view(request, object_id, self._schedule)

    def run_view(self, request, object_id):
        return self._step_view(request, object_id, self._run)

    def verify_view(self, request, object_id):
        draw = self._draw_or_404(request, object_id)
        if not self.has_view_permission(request, draw):
            raise PermissionDenied
        self._verify(request, [draw])
        return redirect("admin:promotions_draw_change", quote(draw.pk))

    def record_view(self, request, object_id):
        draw = self._draw_or_404(request, object_id)
        if not self.has_view_permission(request, draw):
            raise PermissionDenied
        try:
            record = draw_record(draw)
        except LoyaltyError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return redirect("admin:promotions_draw_change", quote(draw.pk))
        response = HttpResponse(
            json.dumps(record, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="draw-{draw.pk}.json"'
        return response

    def _failed(self, request, draw, error) -> None:
        if isinstance(error, ValidationError):
            detail = "; ".join(message for message in error.messages)
        else:
            detail = error.detail
        self.message_user(
            request,
            _("“%(name)s”: %(error)s") % {"name": draw.name, "error": detail},
            messages.ERROR,
        )

    def _schedule(self, request, draws) -> None:
        for draw in draws:
            try:
                draw_schedule(draw)
            except (LoyaltyError, ValidationError) as exc:
                self._failed(request, draw, exc)
            else:
                self.message_user(
                    request,
                    _("“%(name)s” is scheduled: it is drawn once its period has ended.")
                    % {"name": draw.name},
                    messages.SUCCESS,
                )

    def _run(self, request, draws) -> None:
        for draw in draws:
            if draw.is_drawn:
                self.message_user(
                    request,
                    _("“%(name)s” was drawn already; nothing changed.") % {"name": draw.name},
                    messages.WARNING,
                )
                continue
            try:
                done = draw_run(draw, actor=Actor.for_staff(request.user))
            except (LoyaltyError, ValidationError) as exc:
                self._failed(request, draw, exc)
                continue
            count = len(done.winner_list)
            self.message_user(
                request,
                ngettext(
                    "“%(name)s” is drawn: %(count)d winner.",
                    "“%(name)s” is drawn: %(count)d winners.",
                    count,
                )
                % {"name": draw.name, "count": count},
                messages.SUCCESS,
            )

    def _verify(self, request, draws) -> None:
        for draw in draws:
            try:
                check = draw_verify(draw)
            except LoyaltyError as exc:
                self._failed(request, draw, exc)
                continue
            marks = {True: "✓", False: "✗", None: "–"}
            lines = format_html_join(
                "", "<br>{} {}", ((marks[result], label) for _n, label, result in check.results())
            )
            if check.ok:
                summary = _("“%(name)s” matches its record.")
            else:
                summary = _("“%(name)s” does not match its record.")
            self.message_user(
                request,
                format_html("{}{}", summary % {"name": draw.name}, lines),
                messages.SUCCESS if check.ok else messages.ERROR,
            )

    def _cancel(self, request, draws) -> None:
        for draw in draws:
            try:
                draw_cancel(draw)
            except LoyaltyError as exc:
                self._failed(request, draw, exc)
            else:
                self.message_user(
                    request, _("“%(name)s” is cancelled.") % {"name": draw.name}, messages.SUCCESS
                )

    @admin.action(description=_("Schedule the selected draws"), permissions=["change"])
    def schedule(self, request, queryset):
        self._schedule(request, list(queryset))

    @admin.action(description=_("Run the draw now"), permissions=["change"])
    def run(self, request, queryset):
        self._run(request, list(queryset))

    @admin.action(description=_("Verify the selected draws"), permissions=["view"])
    def verify(self, request, queryset):
        self._verify(request, list(queryset))

    @admin.action(description=_("Cancel the selected draws"), permissions=["change"])
    def cancel(self, request, queryset):
        self._cancel(request, list(queryset))
