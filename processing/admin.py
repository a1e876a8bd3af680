"""The receipt simulator's page in the promotions' admin: build a test receipt (or load a past
one) and see what ``calculate`` would answer with the rules in force, drafts included, and why
each promotion that gave nothing did not.

It lives here, above ``promotions``, because it runs the registers' pipeline: this module
registers the promotions' admin again with the simulator's page added.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from crm.models import Segment
from loyalty.errors import LoyaltyError
from loyalty.models import Receipt, Terminal, Tier, staff_partner_id
from processing.simulator import parse_favourites, parse_lines, receipt_lines_text, simulate
from promotions.admin import PromotionAdmin as PromotionBuilderAdmin
from promotions.models import Promotion


def _choices_narrow(field: forms.Field, **lookups: object) -> None:
    """Keep the choices of a model choice field that match ``lookups``."""
    assert isinstance(field, forms.ModelChoiceField)
    assert field.queryset is not None  # declared with one
    field.queryset = field.queryset.filter(**lookups)


class SimulatorForm(forms.Form):
    terminal: forms.ModelChoiceField[Terminal] = forms.ModelChoiceField(
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
    tier: forms.ModelChoiceField[Tier] = forms.ModelChoiceField(
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
    segments: forms.ModelMultipleChoiceField[Segment] = forms.ModelMultipleChoiceField(
        Segment.objects.order_by("name"),
        label=_("the described customer's segments"),
        required=False,
    )
    favourites = forms.CharField(
        label=_("the described customer's favourite products"),
        required=False,
        help_text=_(
            "SKUs, separated by spaces or commas, for rewards on “only the customer's "
            "favourite products”. With a card, the card holder's own favourites count."
        ),
    )
    lines = forms.CharField(
        label=_("lines"),
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text=_("One per line: SKU, quantity, price — e.g. “LEMON 3 60.00”."),
    )
    spend_points = forms.CharField(
        label=_("points to spend"), required=False, help_text=_("An amount, or “max”.")
    )
    exchanges = forms.CharField(
        label=_("exchanges asked for"),
        required=False,
        max_length=500,
        help_text=_("Codes of exchange promotions, separated by spaces, e.g. “MUG-50”."),
    )
    drafts: forms.ModelMultipleChoiceField[Promotion] = forms.ModelMultipleChoiceField(
        Promotion.objects.filter(status=Promotion.Status.DRAFT).order_by("name"),
        label=_("try these drafts too"),
        required=False,
    )

    def __init__(self, *args, partner_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if partner_id is not None:
            _choices_narrow(self.fields["terminal"], store__partner_id=partner_id)
            _choices_narrow(self.fields["drafts"], partner_id=partner_id)

    def clean_lines(self):
        return parse_lines(self.cleaned_data["lines"])

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        terminal = cleaned.get("terminal")
        cleaned["favourite_ids"] = []
        if terminal is not None and cleaned.get("favourites"):
            try:
                cleaned["favourite_ids"] = parse_favourites(cleaned["favourites"], terminal)
            except forms.ValidationError as exc:
                self.add_error("favourites", exc)
        return cleaned

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

    def clean_exchanges(self):
        codes = (self.cleaned_data["exchanges"] or "").replace(",", " ").split()
        return tuple(dict.fromkeys(codes))  # each once, in the order given

    def sold_at_aware(self):
        value = self.cleaned_data.get("sold_at")
        if value is None:
            return None
        zone = zoneinfo.ZoneInfo(self.cleaned_data["terminal"].store.timezone)
        return value.replace(tzinfo=None).replace(tzinfo=zone)


class PromotionAdmin(PromotionBuilderAdmin):
    """The promotions' admin with the receipt simulator's page."""

    def get_urls(self):
        urls = [
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
        partner_id = staff_partner_id(request.user)
        initial = {}
        receipt_pk = request.GET.get("receipt")
        if receipt_pk and receipt_pk.isdigit():
            receipts = Receipt.objects.select_related("terminal__store", "card")
            if partner_id is not None:
                receipts = receipts.filter(partner_id=partner_id)
            receipt = receipts.filter(pk=receipt_pk).first()
            if receipt is not None:
                zone = zoneinfo.ZoneInfo(receipt.terminal.store.timezone)
                initial = {
                    "terminal": receipt.terminal,
                    "sold_at": receipt.sold_at.astimezone(zone).replace(tzinfo=None),
                    "card": receipt.card.number if receipt.card else "",
                    "lines": receipt_lines_text(receipt),
                }
        form = SimulatorForm(request.POST or None, initial=initial, partner_id=partner_id)
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
                    favourite_product_ids=data["favourite_ids"],
                    spend_points=data["spend_points"],
                    exchanges=data["exchanges"],
                    drafts=[p.pk for p in data["drafts"]],
                )
            except LoyaltyError as exc:
                error = exc.detail
            else:
                if partner_id is not None:
                    simulation.blocked = self._blocked_visible(simulation.blocked, partner_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Receipt simulator"),
            "form": form,
            "simulation": simulation,
            "error": error,
        }
        return TemplateResponse(request, "admin/promotions/promotion/simulator.html", context)

    @staticmethod
    def _blocked_visible(blocked, partner_id: int):
        """Partner staff are not told about another partner's promotions."""
        others = set(
            Promotion.objects.filter(pk__in=[pid for pid, _name, _why in blocked])
            .exclude(partner_id=partner_id)
            .exclude(partner__isnull=True)
            .values_list("pk", flat=True)
        )
        return [row for row in blocked if row[0] not in others]


admin.site.unregister(Promotion)
admin.site.register(Promotion, PromotionAdmin)
