"""The promotion builder: a promotion's six questions as fieldsets, conditions and rewards as
inlines, its saved versions and what changed between them, the JSON import and export, and
the bulk actions. Partner staff work on their partner's promotions only (see the package)."""

import json
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import AutocompleteMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from crm.models import Consent
from loyalty.models import CardType, Counter, Store, Terminal, staff_partner_id
from promotions.admin.calendar import calendar_view
from promotions.admin.layout import builder_layout, explain
from promotions.admin.pickers import QuickPickers, one_empty_form
from promotions.bands import bands_parse, bands_text, first_band_value
from promotions.exchange import (
    ImportFailed,
    promotion_copy,
    promotions_export,
    promotions_import,
    version_record,
)
from promotions.figures import live_figures
from promotions.models import Condition, Promotion, PromotionVersion, Reward
from promotions.summary import RuleText, promotion_summary, summary
from promotions.versions import change_rows, version_diff
from promotions.warnings import promotion_warnings

# How a version was saved (``PromotionVersion.source``).
SOURCES = {
    "admin": _("the promotion form"),
    "action": _("a bulk action"),
    "import": _("an import"),
    "copy": _("a copy"),
}

WEEKDAYS = [
    (1, _("Monday")),
    (2, _("Tuesday")),
    (3, _("Wednesday")),
    (4, _("Thursday")),
    (5, _("Friday")),
    (6, _("Saturday")),
    (7, _("Sunday")),
]


class PromotionForm(forms.ModelForm):
    """Days and channels as check boxes (stored as lists: empty means every one)."""

    channels = forms.MultipleChoiceField(
        label=_("sales channels"),
        choices=Store.Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every channel."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("days of the week"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every day (on the store's clock)."),
    )

    trigger_channel = forms.ChoiceField(
        label=_("consent channel"),
        choices=[("", _("any channel")), *Consent.Channel.choices],
        required=False,
        help_text=_("For “a consent given”."),
    )
    card_types = forms.MultipleChoiceField(
        label=_("card types"),
        choices=CardType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any card (and receipts by phone)."),
    )
    # Set by the admin for partner staff: the promotion is their partner's, whatever is posted.
    forced_partner_id: int | None = None

    class Meta:
        model = Promotion
        fields = ["channels", "weekdays", "card_types", "trigger_channel"]  # and the fieldsets

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.forced_partner_id is not None:
            self.instance.partner_id = self.forced_partner_id
        explain(self, "promotion")


def choose_first(form) -> None:
    """The kind starts empty ("choose..."), so that the row a new promotion starts with stays
    untouched, and is skipped, until the marketer picks what it is."""
    field = form.fields.get("kind")
    if field is not None and field.choices and field.choices[0][0] != "":
        field.choices = [("", _("— choose —")), *field.choices]


class ConditionForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        explain(self, "condition")
        choose_first(self)


class ImportForm(forms.Form):
    document = forms.FileField(
        label=_("JSON file"), help_text=_("A document in the promotion exchange format.")
    )


def promotion_programme_id(request, obj: Promotion | None) -> int | None:
    """The programme of the promotion on the page: as posted, as stored, or as asked for by
    ``?programme=`` on the add page; None when not known yet."""
    if request.method == "POST":
        value = request.POST.get("programme", "")
    elif obj is not None:
        return obj.programme_id
    else:
        value = request.GET.get("programme", "")
    return int(value) if value.isdigit() else None


def limit_to_programme(form_class, field_name: str, programme_id: int | None) -> None:
    """Offer only the product sets (or groups) of the promotion's programme; one of another
    programme posted anyway is refused as an invalid choice."""
    field = form_class.base_fields.get(field_name)
    if field is not None and programme_id is not None:
        field.queryset = field.queryset.filter(programme_id=programme_id)


class PartnerListFilter(admin.RelatedOnlyFieldListFilter):
    """The partners of the promotions listed; partner staff see only theirs, and no
    "coalition-wide" choice, as they never see those promotions."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.is_partner_staff = staff_partner_id(request.user) is not None
        super().__init__(field, request, params, model, model_admin, field_path)

    @property
    def include_empty_choice(self):
        return not self.is_partner_staff and super().include_empty_choice


class VersionInline(TabularInline):
    model = PromotionVersion
    extra = 0
    fields = ["number", "created_at", "user", "source", "what_changed"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-number"]

    @admin.display(description=_("what changed"))
    def what_changed(self, obj):
        url = reverse("admin:promotions_promotion_versions", args=[quote(obj.promotion_id)])
        return format_html('<a href="{}#version-{}">{}</a>', url, obj.number, _("see the changes"))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        return one_empty_form(super().get_formset(request, obj, **kwargs))


class FirstRowInline(QuickPickers, StackedInline):
    """Conditions and rewards as stacked blocks; a new promotion starts with one of each."""

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    # Choices offered only from the promotion's programme (another programme's is refused).
    programme_fields: list[str] = []

    def get_formset(self, request, obj=None, **kwargs):
        """Choices limited to the promotion's programme, then each select's choices read once
        for the formset, not once per row (and once more for the empty row the page copies)."""
        formset = super().get_formset(request, obj, **kwargs)
        programme_id = promotion_programme_id(request, obj)
        for name in self.programme_fields:
            limit_to_programme(formset.form, name, programme_id)
        for field in formset.form.base_fields.values():
            widget = getattr(field.widget, "widget", field.widget)
            if isinstance(field, forms.ModelChoiceField) and not isinstance(
                widget, AutocompleteMixin
            ):
                field.choices = [choice for choice in field.choices]  # noqa: C416 (list() counts first)
        return one_empty_form(formset)


class ConditionInline(FirstRowInline):
    model = Condition
    fk_name = "promotion"
    form = ConditionForm
    fields = [
        "or_group",
        "kind",
        "operator",
        "amount",
        "quantity",
        "product_set",
        "tiers",
        "counter",
        "done_promotion",
    ]

    programme_fields = ["product_set", "done_promotion"]
    autocomplete_fields = ["counter"]


class BandsField(forms.CharField):
    """A reward's bands as the marketer types them, one a line ("100: 7"); stored as a list.
    The order, overlaps and values are checked with the reward (``Reward.clean``)."""

    widget = forms.Textarea(attrs={"rows": 4, "placeholder": "0: 5\n100: 7\n500: 10"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return bands_text(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return bands_parse(value or "")

    def has_changed(self, initial, data):
        # No bands is an empty list, whether the form starts from nothing or from [].
        try:
            return self.to_python(data) != self.to_python(initial)
        except ValidationError:
            return True


class RewardForm(forms.ModelForm):
    bands = BandsField(
        label=_("bands"),
        required=False,
        help_text=Reward._meta.get_field("bands").help_text,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        explain(self, "reward")
        choose_first(self)
        if "value" in self.fields:  # with bands, the value is the first band's
            self.fields["value"].required = False
        field = self.fields.get("multiplier_of")
        current = self.instance.multiplier_of_id
        if field is not None and current and not field.queryset.filter(pk=current).exists():
            # A target set earlier by coalition staff stays: saving the rest must not fail.
            field.queryset = field.queryset | Promotion.objects.filter(pk=current)

    def clean(self):
        cleaned = super().clean()
        if "value" in self.fields and cleaned.get("value") is None:
            value = first_band_value(cleaned.get("bands"))
            if value is None and "value" not in self.errors:
                self.add_error("value", _("Give the value, or the bands."))
            cleaned["value"] = value
        return cleaned


class RewardInline(FirstRowInline):
    model = Reward
    fk_name = "promotion"
    fields = [
        "kind",
        "value",
        "band_basis",
        "bands",
        "band_counter",
        "product_set",
        "favourites_only",
        "every_n",
        "max_units",
        "multiplier_of",
        "currency",
        "activation_delay_days",
        "lifetime_days",
        "expires_on",
        "min_line_quantity",
        "counter",
        "coupon_series",
        "spend_rule",
        "beneficiary",
        "expires_days_after_date",
        "expires_day_of_next_month",
        "tier",
    ]
    form = RewardForm
    autocomplete_fields = ["currency", "multiplier_of", "counter", "spend_rule"]

    programme_fields = ["product_set", "multiplier_of", "tier", "band_counter"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "band_counter":  # bands by spend read a counter of money spent
            kwargs["queryset"] = Counter.objects.filter(unit=Counter.Unit.AMOUNT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _names(values) -> list[str]:
    return [str(value) for value in values or ()]


def _kept(formset) -> list:
    """The forms of a formset that stay: saved or filled in, not marked for deletion."""
    kept = []
    for form in formset.forms:
        if not form.is_bound:
            if form.instance.pk:
                kept.append(form)
            continue
        data = getattr(form, "cleaned_data", None) or {}
        if data.get("DELETE") or not (form.has_changed() or form.instance.pk):
            continue
        kept.append(form)
    return kept


def _row_tiers(row) -> list[str]:
    data = getattr(row, "cleaned_data", None)
    if data is None:
        data = row.initial
    return _names(data.get("tiers"))


def rule_summary(form, formsets, obj: Promotion | None) -> str:
    """The builder's sentence: of the saved promotion when the page shows it unchanged, else
    of the form and its rows as they stand."""
    if obj is not None and not form.is_bound and not formsets:
        return promotion_summary(obj)
    data = getattr(form, "cleaned_data", None) or form.initial
    text = RuleText(
        promotion=form.instance,
        stores=_names(data.get("stores")),
        tiers=_names(data.get("tiers")),
    )
    for formset in formsets:
        if formset.model is Condition:
            text.conditions = [(row.instance, _row_tiers(row)) for row in _kept(formset)]
        elif formset.model is Reward:
            text.rewards = [row.instance for row in _kept(formset)]
    try:
        return summary(text)
    except (ValueError, TypeError, AttributeError):  # a half-typed form: no sentence yet
        return ""


def named_errors(form, inline_admin_formsets) -> list[dict]:
    """Every error of the page, named by its row and field, with the field's id for a link:
    shown at the top as well as next to the field."""
    found = []

    def add(where: str, bound_form, name: str | None, messages_) -> None:
        field = bound_form.fields.get(name) if name else None
        for message in messages_:
            found.append(
                {
                    "where": where,
                    "field": str(field.label) if field is not None else "",
                    "message": str(message),
                    "anchor": bound_form[name].id_for_label if field is not None else "",
                }
            )

    for name, errors in form.errors.items():
        add(str(_("Promotion")), form, None if name == "__all__" else name, errors)
    for inline in inline_admin_formsets:
        formset = inline.formset
        label = str(inline.opts.verbose_name).capitalize()
        for message in formset.non_form_errors():
            found.append({"where": label, "field": "", "message": str(message), "anchor": ""})
        for number, row in enumerate(formset.forms, start=1):
            for name, errors in row.errors.items():
                add(f"{label} {number}", row, None if name == "__all__" else name, errors)
    return found


@admin.register(Promotion)
class PromotionAdmin(QuickPickers, ModelAdmin):
    form = PromotionForm
    list_display = [
        "name",
        "status",
        "trigger",
        "priority",
        "group",
        "exclusive",
        "partner",
        "programme",
        "starts_at",
        "ends_at",
    ]
    list_filter = [
        "status",
        "trigger",
        ("programme", admin.RelatedOnlyFieldListFilter),
        ("partner", PartnerListFilter),
        ("group", admin.RelatedOnlyFieldListFilter),
        "exclusive",
    ]
    search_fields = ["name", "description"]
    list_select_related = ["partner", "programme", "group"]
    # Pickers that search as one types, not two 400-px lists side by side.
    autocomplete_fields = [
        "partner",
        "stores",
        "terminals",
        "tiers",
        "segments",
        "card_batches",
        "event_type",
        "trigger_counter",
        "trigger_tier",
        "trigger_question",
        "coupon_series",
    ]
    inlines = [ConditionInline, RewardInline, VersionInline]
    actions = ["activate", "pause", "finish", "copy", "export"]
    change_list_template = "admin/promotions/promotion/change_list.html"
    change_form_template = "admin/promotions/promotion/change_form.html"
    fieldsets = [
        (None, {"fields": ["programme", "name", "code", "description", "status"]}),
        (
            _("What starts it"),
            {
                "fields": [
                    "trigger",
                    "event_type",
                    "trigger_counter",
                    "trigger_value",
                    "trigger_tier",
                    "trigger_channel",
                    "trigger_date",
                    "trigger_question",
                    "trigger_offset_days",
                    "trigger_day",
                ],
                "description": _(
                    "A purchase, or an occasion of the customer's life. A promotion started "
                    "by an occasion rewards each customer once per occasion (once in a "
                    "lifetime for registration or the first purchase, once a year for a "
                    "birthday, once a month for a day of the month, once per event)."
                ),
            },
        ),
        (
            _("Who"),
            {
                "fields": [
                    "tiers",
                    "segments",
                    "card_batches",
                    "card_types",
                    "new_within_days",
                    "referred_only",
                ]
            },
        ),
        (_("Where"), {"fields": ["partner", "stores", "terminals", "channels"]}),
        (_("Coupon"), {"fields": ["coupon_series"]}),
        (
            _("When"),
            {
                "fields": [
                    "starts_at",
                    "ends_at",
                    "weekdays",
                    "time_from",
                    "time_to",
                    "around_date",
                    "days_before",
                    "days_after",
                ]
            },
        ),
        (_("Priority and compatibility"), {"fields": ["priority", "group", "exclusive"]}),
        (
            _("Budget and limits"),
            {
                "fields": [
                    "budget",
                    "max_per_receipt",
                    "uses_per_customer",
                    "uses_per_customer_day",
                    "uses_per_day",
                ]
            },
        ),
        (
            _("Exchange at the register"),
            {
                "fields": ["exchange_cost", "exchange_currency"],
                "description": _(
                    "A price in points (e.g. 10 chips): the promotion then applies only when "
                    "the register asks for it by its code, and the customer pays the price "
                    "for its rewards."
                ),
            },
        ),
        (_("How to tell the customer"), {"fields": ["cashier_message", "customer_message"]}),
    ]

    # Partner staff see and change their partner's promotions only: the isolation policy
    # (loyalty.isolation, "promotions.Promotion") scopes every list, page and choice.

    def get_object_or_404(self, request, object_id) -> Promotion:
        """The promotion if the user may see it, else 404."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return obj

    def _hide_from_partner_staff(self, request, object_id) -> None:
        # Coalition staff keep Django's redirect to the index for a promotion that is gone.
        if staff_partner_id(request.user) is not None:
            self.get_object_or_404(request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._hide_from_partner_staff(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._hide_from_partner_staff(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._hide_from_partner_staff(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if staff_partner_id(request.user) is not None:
            fields.append("partner")  # set by the form to their partner
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        partner_id = staff_partner_id(request.user)
        if partner_id is not None:
            base = kwargs.get("form", self.form)
            kwargs["form"] = type(base.__name__, (base,), {"forced_partner_id": partner_id})
        form = super().get_form(request, obj, change=change, **kwargs)
        for name, rows in (("description", 3), ("customer_message", 3)):
            if name in form.base_fields:
                form.base_fields[name].widget.attrs["rows"] = rows
        limit_to_programme(form, "group", promotion_programme_id(request, obj))
        limit_to_programme(form, "exchange_currency", promotion_programme_id(request, obj))
        return form

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "terminals":
            kwargs["queryset"] = Terminal.objects.select_related("store").order_by("code")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        formsets = [inline.formset for inline in context.get("inline_admin_formsets", [])]
        context.update(
            {
                "builder_layout": builder_layout(),
                "summary": rule_summary(form, formsets, obj),
                "named_errors": named_errors(form, context.get("inline_admin_formsets", [])),
                "summary_url": reverse("admin:promotions_promotion_summary"),
                "live": live_figures(obj) if obj is not None else None,
            }
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def summary_view(self, request):
        """The sentence of the rule as the builder's form stands, unsaved: the page posts the
        form as it changes and shows the answer at the top."""
        if request.method != "POST":
            return JsonResponse({"error": "POST the builder's form."}, status=405)
        object_id = request.POST.get("object_id", "")
        obj = self.get_object(request, object_id) if object_id.isdigit() else None
        if obj is None and not self.has_add_permission(request):
            raise PermissionDenied
        if obj is not None and not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        form_class = self.get_form(request, obj, change=obj is not None)
        form = form_class(request.POST, instance=obj or Promotion())
        form.is_valid()
        formsets, _inlines = self._create_formsets(request, form.instance, change=obj is not None)
        for formset in formsets:
            formset.is_valid()
        return JsonResponse({"summary": rule_summary(form, formsets, None)})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the inlines: the version holds the conditions and rewards as saved.
        version_record(form.instance, user=request.user, source="admin")
        for warning in promotion_warnings(form.instance):
            self.message_user(request, warning, messages.WARNING)

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="promotions_promotion_import",
            ),
            path(
                "calendar/",
                self.admin_site.admin_view(partial(calendar_view, self)),
                name="promotions_promotion_calendar",
            ),
            path(
                "summary/",
                self.admin_site.admin_view(self.summary_view),
                name="promotions_promotion_summary",
            ),
            path(
                "<path:object_id>/versions/",
                self.admin_site.admin_view(self.versions_view),
                name="promotions_promotion_versions",
            ),
        ]
        return urls + super().get_urls()

    def versions_view(self, request, object_id):
        """Every saved version of a promotion, newest first: when, by whom, through what, and
        what changed from the version before."""
        promotion = self.get_object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, promotion):
            raise PermissionDenied
        history, previous = [], None
        for version in promotion.versions.select_related("user").order_by("number"):
            changes = None
            if previous is not None:
                changes = change_rows(version_diff(previous.data, version.data))
            history.append(
                {
                    "version": version,
                    "source": SOURCES.get(version.source, version.source),
                    "changes": changes,
                }
            )
            previous = version
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": promotion,
            "title": _("History of versions: %(name)s") % {"name": promotion.name},
            "history": history[::-1],
        }
        return TemplateResponse(request, "admin/promotions/promotion/versions.html", context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:promotions_promotion_changelist")
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                document = json.load(form.cleaned_data["document"])
                imported = promotions_import(
                    document, user=request.user, partner_id=staff_partner_id(request.user)
                )
            except (ValueError, UnicodeDecodeError) as exc:
                errors = [("$", _("Not a JSON document: %(error)s") % {"error": exc})]
            except ImportFailed as exc:
                errors = exc.errors
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d promotion imported.",
                        "%(count)d promotions imported.",
                        len(imported),
                    )
                    % {"count": len(imported)},
                    messages.SUCCESS,
                )
                return redirect("admin:promotions_promotion_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import promotions"),
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/promotions/promotion/import.html", context)

    @admin.action(description=_("Copy the selected promotions (as drafts)"), permissions=["add"])
    def copy(self, request, queryset):
        copies = [promotion_copy(promotion, user=request.user) for promotion in queryset]
        self.message_user(
            request,
            ngettext("%(count)d draft copy made.", "%(count)d draft copies made.", len(copies))
            % {"count": len(copies)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Export the selected promotions as JSON"), permissions=["view"])
    def export(self, request, queryset):
        document = promotions_export(queryset.select_related("programme", "partner", "group"))
        response = HttpResponse(
            json.dumps(document, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="promotions.json"'
        return response

    def _set_status(self, request, queryset, status):
        changed = 0
        for promotion in queryset:
            if promotion.status != status:
                promotion.status = status
                promotion.save(update_fields=["status", "updated_at"])
                version_record(promotion, user=request.user, source="action")
                changed += 1
        self.message_user(
            request,
            ngettext("%(count)d promotion changed.", "%(count)d promotions changed.", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Activate the selected promotions"), permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.ACTIVE)
        # What saving each one would have warned about, now that they are all active.
        for promotion in queryset.order_by("pk"):
            for warning in promotion_warnings(promotion):
                self.message_user(request, warning, messages.WARNING)

    @admin.action(description=_("Pause the selected promotions"), permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.PAUSED)

    @admin.action(description=_("Finish the selected promotions"), permissions=["change"])
    def finish(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.FINISHED)
