"""The promotion builder: a promotion's six questions as fieldsets, conditions and rewards as
inlines, compatibility groups and product sets beside them."""

import json
import zoneinfo
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.models import Segment
from loyalty.errors import LoyaltyError
from loyalty.models import CardType, Receipt, Store, Terminal, Tier
from promotions.exchange import (
    ImportFailed,
    promotion_copy,
    promotions_export,
    promotions_import,
    version_record,
)
from promotions.models import (
    CompatibilityGroup,
    Condition,
    ProductSet,
    Promotion,
    PromotionVersion,
    Reward,
)
from promotions.simulator import parse_lines, receipt_lines_text, simulate

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

    card_types = forms.MultipleChoiceField(
        label=_("card types"),
        choices=CardType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any card (and receipts by phone)."),
    )

    class Meta:
        model = Promotion
        fields = ["channels", "weekdays", "card_types"]  # the fieldsets add the others


class SimulatorForm(forms.Form):
    terminal = forms.ModelChoiceField(
        Terminal.objects.select_related("store__partner").order_by("code"),
        label=_("terminal"),
        help_text=_("The store and its clock come with it."),
    )
    sold_at = forms.DateTimeField(
        label=_("date and time (store time)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Empty: now."),
    )
    card = forms.CharField(label=_("card"), required=False, max_length=32)
    tier = forms.ModelChoiceField(
        Tier.objects.order_by("programme", "rank"),
        label=_("or a customer of tier"),
        required=False,
        help_text=_("Without a card: a described customer (no balance to spend)."),
    )
    birth_date = forms.DateField(
        label=_("the described customer's birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    segments = forms.ModelMultipleChoiceField(
        Segment.objects.order_by("name"),
        label=_("the described customer's segments"),
        required=False,
    )
    lines = forms.CharField(
        label=_("lines"),
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text=_("One per line: SKU, quantity, price — e.g. “LEMON 3 60.00”."),
    )
    spend_points = forms.CharField(
        label=_("points to spend"), required=False, help_text=_("An amount, or “max”.")
    )
    drafts = forms.ModelMultipleChoiceField(
        Promotion.objects.filter(status=Promotion.Status.DRAFT).order_by("name"),
        label=_("try these drafts too"),
        required=False,
    )

    def clean_lines(self):
        return parse_lines(self.cleaned_data["lines"])

    def clean_spend_points(self):
        value = (self.cleaned_data["spend_points"] or "").strip()
        if not value:
            return None
        if value.lower() == "max":
            return "max"
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise forms.ValidationError(_("Give an amount, or “max”.")) from exc
        if amount < 0:
            raise forms.ValidationError(_("Give an amount, or “max”."))
        return amount.quantize(Decimal("0.01"))

    def sold_at_aware(self):
        value = self.cleaned_data.get("sold_at")
        if value is None:
            return None
        zone = zoneinfo.ZoneInfo(self.cleaned_data["terminal"].store.timezone)
        return value.replace(tzinfo=None).replace(tzinfo=zone)


class ImportForm(forms.Form):
    document = forms.FileField(
        label=_("JSON file"), help_text=_("A document in the promotion exchange format.")
    )


class VersionInline(admin.TabularInline):
    model = PromotionVersion
    extra = 0
    fields = ["number", "created_at", "user", "source"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0
    fields = [
        "or_group",
        "kind",
        "operator",
        "amount",
        "quantity",
        "product_set",
        "tiers",
        "counter",
    ]
    autocomplete_fields = ["product_set"]


class RewardInline(admin.TabularInline):
    model = Reward
    fk_name = "promotion"
    extra = 0
    fields = [
        "kind",
        "value",
        "product_set",
        "every_n",
        "multiplier_of",
        "currency",
        "activation_delay_days",
        "lifetime_days",
        "expires_on",
        "min_line_quantity",
        "counter",
        "coupon_series",
    ]
    autocomplete_fields = ["currency", "product_set", "multiplier_of"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    form = PromotionForm
    list_display = [
        "name",
        "status",
        "priority",
        "group",
        "exclusive",
        "partner",
        "programme",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["status", "programme", "partner", "group", "exclusive"]
    search_fields = ["name", "description"]
    list_select_related = ["partner", "programme", "group"]
    autocomplete_fields = ["partner", "group"]
    filter_horizontal = ["stores", "tiers", "segments", "card_batches"]
    inlines = [ConditionInline, RewardInline, VersionInline]
    actions = ["activate", "pause", "finish", "copy", "export"]
    change_list_template = "admin/promotions/promotion/change_list.html"
    fieldsets = [
        (None, {"fields": ["programme", "name", "code", "description", "status"]}),
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
        (_("Where"), {"fields": ["partner", "stores", "channels"]}),
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
        (_("How to tell the customer"), {"fields": ["cashier_message"]}),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the inlines: the version holds the conditions and rewards as saved.
        version_record(form.instance, user=request.user, source="admin")

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="promotions_promotion_import",
            ),
            path(
                "simulator/",
                self.admin_site.admin_view(self.simulator_view),
                name="promotions_promotion_simulator",
            ),
        ]
        return urls + super().get_urls()

    def simulator_view(self, request):
        """Build a test receipt (or load a past one) and see what calculate would answer."""
        if not self.has_view_permission(request):
            return redirect("admin:index")
        initial = {}
        receipt_pk = request.GET.get("receipt")
        if receipt_pk and receipt_pk.isdigit():
            receipt = (
                Receipt.objects.select_related("terminal", "card").filter(pk=receipt_pk).first()
            )
            if receipt is not None:
                zone = zoneinfo.ZoneInfo(receipt.terminal.store.timezone)
                initial = {
                    "terminal": receipt.terminal,
                    "sold_at": receipt.sold_at.astimezone(zone).replace(tzinfo=None),
                    "card": receipt.card.number if receipt.card else "",
                    "lines": receipt_lines_text(receipt),
                }
        form = SimulatorForm(request.POST or None, initial=initial)
        simulation = None
        error = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                simulation = simulate(
                    terminal=data["terminal"],
                    lines=data["lines"],
                    sold_at=form.sold_at_aware(),
                    card=data["card"].strip() or None,
                    tier_id=data["tier"].pk if data["tier"] else None,
                    birth_date=data["birth_date"],
                    segment_ids=[segment.pk for segment in data["segments"]],
                    spend_points=data["spend_points"],
                    drafts=[p.pk for p in data["drafts"]],
                )
            except LoyaltyError as exc:
                error = exc.detail
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Receipt simulator"),
            "form": form,
            "simulation": simulation,
            "error": error,
        }
        return TemplateResponse(request, "admin/promotions/promotion/simulator.html", context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:promotions_promotion_changelist")
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                document = json.load(form.cleaned_data["document"])
                imported = promotions_import(document, user=request.user)
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

    @admin.action(description=_("Pause the selected promotions"), permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.PAUSED)

    @admin.action(description=_("Finish the selected promotions"), permissions=["change"])
    def finish(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.FINISHED)


@admin.register(CompatibilityGroup)
class CompatibilityGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "programme"]
    list_filter = ["mode", "programme"]
    search_fields = ["name"]


@admin.register(ProductSet)
class ProductSetAdmin(admin.ModelAdmin):
    list_display = ["name", "programme", "partner"]
    list_filter = ["programme", "partner"]
    search_fields = ["name"]
    autocomplete_fields = ["partner"]
    filter_horizontal = [
        "products",
        "categories",
        "brands",
        "lists",
        "excluded_products",
        "excluded_categories",
    ]
