"""The receipt simulator's page in the promotions' admin: build a test receipt (or load a past
one) and see what ``calculate`` would answer with the rules in force, drafts included, and why
each promotion that gave nothing did not.

It lives here, above ``promotions``, because it runs the registers' pipeline: this module
registers the promotions' admin again with the simulator's page added.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Segment
from loyalty.errors import LoyaltyError
from loyalty.models import Receipt, Terminal, Tier, staff_partner_id
from processing.simulator import (
    WhatIf,
    catalogue,
    lines_check,
    parse_favourites,
    parse_lines,
    parse_number,
    products_find,
    receipt_lines_text,
    rules_for,
    simulate,
)
from processing.simulator_occasions import occasions_simulate
from processing.simulator_text import number_shown
from promotions.admin import PromotionAdmin as PromotionBuilderAdmin
from promotions.engine import CustomerFacts
from promotions.models import Promotion
from promotions.models.promotion import Trigger


def _choices_narrow(field: forms.Field, **lookups: object) -> None:
    """Keep the choices of a model choice field that match ``lookups``."""
    assert isinstance(field, forms.ModelChoiceField)
    assert field.queryset is not None  # declared with one
    field.queryset = field.queryset.filter(**lookups)


YES_NO = [("", _("as the programme says")), ("yes", _("yes")), ("no", _("no"))]


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
        help_text=_("On the clock of the terminal's store. Empty: now."),
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
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text=_(
            "One per line: SKU, quantity, price — e.g. “LEMON 3 60.00” (in Russian “60,00” "
            "too). Or find a product above and add it."
        ),
    )
    allow_unknown = forms.BooleanField(
        label=_("simulate SKUs the catalogue does not have"),
        required=False,
        help_text=_(
            "Off: a SKU the catalogue does not have is refused (a typo). On: it is simulated "
            "as the registers would, a product no product set names."
        ),
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
    occasion = forms.ChoiceField(
        label=_("occasion"),
        required=False,
        choices=[("", _("none"))] + [c for c in Trigger.choices if c[0] != Trigger.RECEIPT],
        help_text=_(
            "The promotions started by this occasion of the customer's life, simulated for "
            "the card's holder (or the described customer) on the day below."
        ),
    )
    occasion_date = forms.DateField(
        label=_("the occasion's day"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Empty: the day of the sale. Dates and days of the month are rewarded by the daily "
            "job on the back office's clock; other occasions at the store, on its clock."
        ),
    )
    max_spend_percent = forms.CharField(
        label=_("max share of a receipt paid with points, %"),
        required=False,
        help_text=_("Empty: the programme's (or its currency's) own."),
    )
    min_money_payment = forms.CharField(
        label=_("minimum money payment per receipt"),
        required=False,
        help_text=_("Empty: the programme's own."),
    )
    certificates_earn = forms.ChoiceField(
        label=_("money paid with gift certificates earns points"),
        required=False,
        choices=YES_NO,
    )
    drafts: forms.ModelMultipleChoiceField[Promotion] = forms.ModelMultipleChoiceField(
        Promotion.objects.filter(status=Promotion.Status.DRAFT).order_by("name"),
        label=_("try these drafts too"),
        required=False,
    )

    GROUPS = (
        (_("The sale"), ("terminal", "sold_at", "card")),
        (_("Or a described customer"), ("tier", "birth_date", "segments", "favourites")),
        (_("Lines"), ("lines", "allow_unknown")),
        (_("Points and exchanges"), ("spend_points", "exchanges")),
        (_("An occasion of the customer's life"), ("occasion", "occasion_date")),
        (
            _("What-if programme settings (this simulation only)"),
            ("max_spend_percent", "min_money_payment", "certificates_earn"),
        ),
        (_("Drafts"), ("drafts",)),
    )

    def __init__(self, *args, partner_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if partner_id is not None:
            _choices_narrow(self.fields["terminal"], store__partner_id=partner_id)
            _choices_narrow(self.fields["drafts"], partner_id=partner_id)

    def groups(self):
        """(title, bound fields) in the order the page shows them."""
        return [(title, [self[name] for name in names]) for title, names in self.GROUPS]

    def clean_lines(self):
        text = self.cleaned_data["lines"]
        return parse_lines(text) if text.strip() else []

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
        lines = cleaned.get("lines")
        if lines == [] and not cleaned.get("occasion"):
            self.add_error("lines", _("Give at least one line (or choose an occasion)."))
        elif lines and terminal is not None and not cleaned.get("allow_unknown"):
            try:
                lines_check(lines, terminal)
            except forms.ValidationError as exc:
                self.add_error("lines", exc)
        return cleaned

    def _number(self, name: str, places: int, most: Decimal | None = None) -> Decimal | None:
        text = (self.cleaned_data[name] or "").strip()
        if not text:
            return None
        try:
            value = parse_number(text, places)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if most is not None and value > most:
            raise forms.ValidationError(_("At most %(most)s.") % {"most": number_shown(most)})
        return value

    def clean_spend_points(self):
        value = (self.cleaned_data["spend_points"] or "").strip()
        if value.lower() == "max":
            return "max"
        return self._number("spend_points", 2)

    def clean_max_spend_percent(self):
        return self._number("max_spend_percent", 2, Decimal("100"))

    def clean_min_money_payment(self):
        return self._number("min_money_payment", 2)

    def clean_exchanges(self):
        codes = (self.cleaned_data["exchanges"] or "").replace(",", " ").split()
        return tuple(dict.fromkeys(codes))  # each once, in the order given

    def what_if(self) -> WhatIf:
        data = self.cleaned_data
        earn = data.get("certificates_earn")
        return WhatIf(
            max_spend_percent=data.get("max_spend_percent"),
            min_money_payment=data.get("min_money_payment"),
            certificates_earn=None if not earn else earn == "yes",
        )

    def described(self) -> CustomerFacts:
        """The customer the fields describe (used without a card)."""
        data = self.cleaned_data
        return CustomerFacts(
            id=0,
            tier_id=data["tier"].pk if data.get("tier") else None,
            birth_date=data.get("birth_date"),
            segment_ids=frozenset(segment.pk for segment in data.get("segments") or ()),
            favourite_product_ids=frozenset(data.get("favourite_ids") or ()),
        )

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
            path(
                "simulator/products/",
                self.admin_site.admin_view(self.simulator_products_view),
                name="promotions_promotion_simulator_products",
            ),
        ]
        return urls + super().get_urls()

    def simulator_products_view(self, request):
        """The product picker's suggestions: products by SKU or name, as JSON, of the shared
        catalogue and the partner's own (partner staff: their partner; others: the chosen
        terminal's partner, or any)."""
        if not self.has_view_permission(request):
            return JsonResponse({"products": []}, status=403)
        partner_id = staff_partner_id(request.user)
        terminal_pk = request.GET.get("terminal", "")
        if partner_id is None and terminal_pk.isdigit():
            partner_id = (
                Terminal.objects.filter(pk=terminal_pk)
                .values_list("store__partner_id", flat=True)
                .first()
            )
        return JsonResponse({"products": products_find(request.GET.get("q", ""), partner_id)})

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
                skus = list(receipt.lines.values_list("sku", flat=True))
                initial = {
                    "terminal": receipt.terminal,
                    "sold_at": receipt.sold_at.astimezone(zone).replace(tzinfo=None),
                    "card": receipt.card.number if receipt.card else "",
                    "lines": receipt_lines_text(receipt),
                    # a past receipt is simulated as it was sold, catalogued or not
                    "allow_unknown": len(catalogue(receipt.terminal, skus)) < len(set(skus)),
                }
        form = SimulatorForm(request.POST or None, initial=initial, partner_id=partner_id)
        simulation = occasions = None
        error = None
        if request.method == "POST" and form.is_valid():
            try:
                simulation, occasions = self._simulate(form)
            except LoyaltyError as exc:
                error = exc.detail
            else:
                if simulation is not None and partner_id is not None:
                    simulation.refusals = self._visible(simulation.refusals, partner_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Receipt simulator"),
            "form": form,
            "simulation": simulation,
            "occasions": occasions,
            "error": error,
        }
        return TemplateResponse(request, "admin/promotions/promotion/simulator.html", context)

    @staticmethod
    def _simulate(form: SimulatorForm):
        """The receipt's simulation (if it has lines) and the occasion's (if one is chosen)."""
        data = form.cleaned_data
        card = data["card"].strip() or None
        what_if = form.what_if()
        drafts = [p.pk for p in data["drafts"]]
        simulation = occasions = None
        sold_at = form.sold_at_aware()
        if data["lines"]:
            simulation = simulate(
                terminal=data["terminal"],
                lines=data["lines"],
                sold_at=sold_at,
                card=card,
                tier_id=data["tier"].pk if data["tier"] else None,
                birth_date=data["birth_date"],
                segment_ids=[segment.pk for segment in data["segments"]],
                favourite_product_ids=data["favourite_ids"],
                spend_points=data["spend_points"],
                exchanges=data["exchanges"],
                drafts=drafts,
                what_if=what_if,
            )
        if data["occasion"]:
            terminal = data["terminal"]
            local = timezone.localtime(
                sold_at or timezone.now(), zoneinfo.ZoneInfo(terminal.store.timezone)
            )
            occasions = occasions_simulate(
                snapshot=rules_for(drafts, what_if),
                kind=data["occasion"],
                day=data["occasion_date"] or local.date(),
                terminal=terminal,
                card=card,
                described=form.described(),
                sale_time=local.time().replace(microsecond=0),
            )
        return simulation, occasions

    @staticmethod
    def _visible(refusals, partner_id: int):
        """Partner staff are not told about another partner's promotions."""
        others = set(
            Promotion.objects.filter(pk__in=[row.promotion_id for row in refusals])
            .exclude(partner_id=partner_id)
            .exclude(partner__isnull=True)
            .values_list("pk", flat=True)
        )
        return [row for row in refusals if row.promotion_id not in others]


admin.site.unregister(Promotion)
admin.site.register(Promotion, PromotionAdmin)
