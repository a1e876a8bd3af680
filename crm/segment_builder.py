"""The rule builder of the segment admin: the widget that edits a segment's ``rule`` as nested
groups of conditions (static/loyalty/segment-builder.js), and the three views it calls.

- ``builder/kinds/`` (GET): every kind of condition with its parameters, in the request's
  language, from the registry (``crm.segments.describe``) plus the builder's own words;
- ``builder/preview/`` (POST ``rule``, ``programme``, ``object_id``): the unsaved rule checked,
  its size, its summary and its first 20 customers (contacts masked; only for staff who may
  see customers), or its named error with the node it names (``path``) and the parameter;
- ``builder/pick/`` (GET ``kind``, ``param``, ``programme``, ``term``/``ids``): the rows an
  ``id`` / ``ids`` parameter may name, in select2's format, as the admin's own autocomplete
  answers: searched with the row model's admin (its ``search_fields``), limited to what its
  partner isolation lets the user see and, where the parameter says so, to the programme.

Each view needs the staff user's view or change permission on segments (add, on the add page),
the segment itself within what the user may see, and the programme among those the
programme's admin shows them (partner staff: their partner's and the coalition's)."""

from __future__ import annotations

import json
from functools import wraps

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.widgets import get_select2_language
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.widgets import UnfoldAdminTextareaWidget

from crm.errors import SegmentRuleError
from crm.models import Customer, Segment
from crm.phones import mask_phone
from crm.segments.describe import kinds_description
from crm.segments.preview import segment_preview
from crm.segments.registry import kind_get
from crm.segments.summary import rule_summaries, rule_summary

PREVIEW_LIMIT = 20
PICK_PAGE = 20


def mask_email(email: str) -> str:
    """``ivan@example.com`` → ``i***@example.com``, as the other admin pages show it."""
    if not email:
        return "—"
    local, at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if at else f"{local[:1]}***"


class RuleBuilderWidget(UnfoldAdminTextareaWidget):
    """The rule's JSON in a folded "JSON" box under the builder, which reads it when the page
    opens and writes it on every change: the form saves the JSON as before."""

    def render(self, name, value, attrs=None, renderer=None):
        textarea = super().render(name, value, attrs, renderer)
        return format_html(
            '<div class="rule-builder" id="rule-builder" data-kinds-url="{}" data-preview-url="{}"'
            ' data-pick-url="{}" data-object-id="{}" data-programme-id="{}">'
            '<div class="rule-builder-tree" id="rule-builder-tree"></div>'
            '<div class="rule-summary-box"><span class="rule-summary-label">{}</span>'
            '<p id="rule-summary" aria-live="polite"></p></div>'
            '<div class="rule-preview" id="rule-preview" aria-live="polite"></div>'
            '<details class="rule-json" id="rule-json"><summary>{}</summary>{}</details></div>',
            reverse("admin:crm_segment_builder_kinds"),
            reverse("admin:crm_segment_builder_preview"),
            reverse("admin:crm_segment_builder_pick"),
            self.attrs.get("data-object-id", ""),
            self.attrs.get("data-programme-id", ""),
            _("The rule in words"),
            _("JSON (for power users)"),
            textarea,
        )

    @property
    def media(self):
        language = get_select2_language()
        i18n = (f"admin/js/vendor/select2/i18n/{language}.js",) if language else ()
        return forms.Media(
            js=(
                "admin/js/vendor/jquery/jquery.js",
                "admin/js/vendor/select2/select2.full.js",
                *i18n,
                "admin/js/jquery.init.js",
                "loyalty/segment-builder.js",
            ),
            css={
                "screen": (
                    "admin/css/vendor/select2/select2.css",
                    "admin/css/autocomplete.css",
                    "loyalty/segment-builder.css",
                )
            },
        )


def builder_words() -> dict[str, str]:
    """The builder's own words, translated here so that the script holds none."""
    return {
        "and": _("all of these (AND)"),
        "or": _("any of these (OR)"),
        "not": _("NOT"),
        "not_help": _("Negate: the customers this leaves out."),
        "add_condition": _("+ condition"),
        "add_group": _("+ group"),
        "remove": _("Remove"),
        "up": _("Move up"),
        "down": _("Move down"),
        "choose_kind": _("— choose a condition —"),
        "unknown_kind": _("A condition of a kind no app registers: keep it or remove it."),
        "empty_group": _("No conditions yet: add one."),
        "blank": _("—"),
        "yes": _("yes"),
        "no": _("no"),
        "all_time": _("all time"),
        "last_days": _("in the last N days"),
        "dates": _("between dates"),
        "days": _("days"),
        "from": _("from"),
        "to": _("to"),
        "separate": _("Separate the values with commas."),
        "search": _("Search…"),
        "choose_programme": _("Choose the programme to see who is in the segment."),
        "counting": _("Counting…"),
        "failed": _("The preview could not be computed; it is tried again on the next change."),
        "json_invalid": _("The JSON below is not a rule the builder can show: correct it there."),
        "customer": _("customer"),
        "name": _("name"),
        "phone": _("phone"),
        "email": _("email"),
        "registered": _("registered"),
    }


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _in_json(view):
    """``view`` answering a refusal in JSON, as everything else it answers."""

    @wraps(view)
    def answering(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            return _json_error(403, "permission_denied", _("You may not do this."))

    return answering


class SegmentBuilderAdmin:
    """Mixed into ``crm.admin.SegmentAdmin``: the builder on the ``rule`` field, its views, and
    the rule in words as a column of the list."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "rule":
            kwargs["widget"] = RuleBuilderWidget(attrs={"rows": 8})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        field = form.base_fields.get("rule")
        if field is not None:
            field.help_text = gettext_lazy(
                "Build the rule above: groups joined by AND / OR, each group or condition may be "
                "negated. The JSON is what is saved."
            )
            if obj is not None:
                field.widget.attrs["data-object-id"] = obj.pk
                field.widget.attrs["data-programme-id"] = obj.programme_id
        return form

    def get_urls(self):
        return [
            path(
                "builder/kinds/",
                self.admin_site.admin_view(_in_json(self.builder_kinds_view)),
                name="crm_segment_builder_kinds",
            ),
            path(
                "builder/preview/",
                self.admin_site.admin_view(_in_json(self.builder_preview_view)),
                name="crm_segment_builder_preview",
            ),
            path(
                "builder/pick/",
                self.admin_site.admin_view(_in_json(self.builder_pick_view)),
                name="crm_segment_builder_pick",
            ),
            *super().get_urls(),
        ]

    # --- who may ask ---------------------------------------------------------------------

    def _builder_allowed(self, request) -> None:
        if not (self.has_view_or_change_permission(request) or self.has_add_permission(request)):
            raise PermissionDenied

    def _builder_segment(self, request, object_id: str) -> Segment | None:
        """The segment being edited, if the user may see it (None for the add page); raises
        PermissionDenied for one they may not, as for one that does not exist."""
        if not object_id:
            return None
        obj = self.get_object(request, object_id) if object_id.isdigit() else None
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _builder_programme_id(self, request, raw: str) -> int | None:
        """The programme's id if the user may see it (its admin's rows, partner isolation
        applied), else None."""
        if not raw.isdigit():
            return None
        model = Segment._meta.get_field("programme").related_model
        programme_admin = self.admin_site._registry.get(model)
        rows = (
            programme_admin.get_queryset(request)
            if programme_admin is not None
            else model._default_manager.all()
        )
        return int(raw) if rows.filter(pk=int(raw)).exists() else None

    # --- the views -----------------------------------------------------------------------

    def builder_kinds_view(self, request):
        """The registry's kinds and parameters and the builder's words, in the request's
        language."""
        self._builder_allowed(request)
        return JsonResponse({"kinds": kinds_description(), "words": builder_words()})

    def builder_preview_view(self, request):
        """The rule as the builder holds it, unsaved: checked, counted, described and its
        first customers listed; or its named error. Writes nothing."""
        if request.method != "POST":
            return _json_error(405, "method_not_allowed", _("POST the rule."))
        self._builder_allowed(request)
        obj = self._builder_segment(request, request.POST.get("object_id", ""))
        programme_id = self._builder_programme_id(request, request.POST.get("programme", ""))
        if programme_id is None:
            return _json_error(
                404, "programme_unknown", _("Choose a programme you may see for the segment.")
            )
        try:
            rule = json.loads(request.POST.get("rule", ""))
        except ValueError as exc:
            return _json_error(
                400,
                "rule_json_invalid",
                _("The rule is not valid JSON: %(error)s") % {"error": exc},
            )
        try:
            preview = segment_preview(
                rule,
                programme_id=programme_id,
                segment_id=obj.pk if obj is not None else None,
                limit=PREVIEW_LIMIT,
            )
        except SegmentRuleError as exc:
            return JsonResponse(
                {
                    "error": {
                        "code": exc.code,
                        "message": str(exc.text),
                        "path": exc.path,
                        "param": exc.param,
                    },
                    "summary": rule_summary(rule),
                },
                status=422,
            )
        customers = self._preview_customers(request, preview.customers)
        return JsonResponse(
            {
                "size": preview.size,
                "size_text": ngettext("%(count)s customer", "%(count)s customers", preview.size)
                % {"count": preview.size},
                "rule": preview.rule,
                "summary": rule_summary(preview.rule),
                "customers": customers,
                "customers_note": self._customers_note(preview.size, customers),
            }
        )

    def _preview_customers(self, request, customers: list[Customer]) -> list[dict] | None:
        """The first customers, their contacts masked; None for staff who may not see customers
        (partner staff: the customer base is the coalition's)."""
        customer_admin = self.admin_site._registry.get(Customer)
        if customer_admin is None or not customer_admin.has_view_permission(request):
            return None
        return [
            {
                "public_id": str(customer.public_id),
                "name": customer.full_name or "—",
                "phone": mask_phone(customer.phone) if customer.phone else "—",
                "email": mask_email(customer.email),
                "registered": (
                    customer.registered_at.date().isoformat() if customer.registered_at else ""
                ),
                "url": reverse("admin:crm_customer_change", args=[customer.pk]),
            }
            for customer in customers
        ]

    def _customers_note(self, size: int, customers: list[dict] | None) -> str:
        if customers is None:
            return _("Only the size: you may not see the customers.") if size else ""
        if size > len(customers):
            return _("The first %(count)s, newest registrations first.") % {"count": len(customers)}
        return ""

    def builder_pick_view(self, request):
        """The rows an ``id`` / ``ids`` parameter may name: ``term`` searched (20 a page), or
        the labels of ``ids`` (comma-separated) the builder already holds."""
        self._builder_allowed(request)
        kind = kind_get(request.GET.get("kind", ""))
        name = request.GET.get("param")
        param = next((p for p in kind.params if p.name == name), None) if kind else None
        if param is None or param.type not in ("id", "ids"):
            return _json_error(400, "param_unknown", _("No such parameter to choose rows for."))
        programme_id = self._builder_programme_id(request, request.GET.get("programme", ""))
        if programme_id is None:
            return _json_error(
                404, "programme_unknown", _("Choose a programme you may see for the segment.")
            )
        target = apps.get_model(param.model)
        target_admin = self.admin_site._registry.get(target)
        rows = (
            target_admin.get_queryset(request)
            if target_admin is not None
            else target._default_manager.all()
        )
        if param.programme_field:
            rows = rows.filter(**{param.programme_field: programme_id})
        ids = request.GET.get("ids")
        if ids is not None:
            wanted = [int(i) for i in ids.split(",") if i.strip().isdigit()]
            found = rows.filter(pk__in=wanted)
            return JsonResponse(
                {"results": [{"id": row.pk, "text": str(row)} for row in found], "pagination": {}}
            )
        term = request.GET.get("term", "").strip()
        if term:
            rows = self._builder_search(request, target, target_admin, rows, term)
        page = request.GET.get("page", "1")
        number = int(page) if page.isdigit() and int(page) > 0 else 1
        start = (number - 1) * PICK_PAGE
        ordering = target._meta.ordering or ["pk"]
        found = list(rows.order_by(*ordering, "pk")[start : start + PICK_PAGE + 1])
        return JsonResponse(
            {
                "results": [{"id": row.pk, "text": str(row)} for row in found[:PICK_PAGE]],
                "pagination": {"more": len(found) > PICK_PAGE},
            }
        )

    @staticmethod
    def _builder_search(request, target, target_admin, rows, term: str):
        if target_admin is not None and target_admin.get_search_fields(request):
            found, may_repeat = target_admin.get_search_results(request, rows, term)
            return found.distinct() if may_repeat else found
        names = {field.name for field in target._meta.get_fields()}
        if "name" in names:
            return rows.filter(name__icontains=term)
        return rows.filter(pk=int(term)) if term.isdigit() else rows.none()

    # --- the list ------------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class RuleWordsChangeList(base):
            """Reads the names the page's rules mention once for the whole page."""

            def get_results(self, request):
                super().get_results(request)
                rules = [
                    row.rule if row.kind == Segment.Kind.RULES else None for row in self.result_list
                ]
                for row, text in zip(self.result_list, rule_summaries(rules), strict=True):
                    row.rule_words = text

        return RuleWordsChangeList

    @admin.display(description=gettext_lazy("rule"))
    def rule_text(self, obj) -> str:
        text = getattr(obj, "rule_words", None)
        if text is None:
            text = rule_summary(obj.rule) if obj.kind == Segment.Kind.RULES else ""
        if not text:
            return "—"
        return text if len(text) <= 160 else text[:159] + "…"
