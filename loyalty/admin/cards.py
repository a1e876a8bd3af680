"""Cards: batches, emission and the card operations (imports: ``loyalty.admin.imports``)."""

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

from loyalty.admin.imports import ImportButtonMixin
from loyalty.admin.mixins import LineBuffer, ReadOnlyAdminMixin
from loyalty.errors import LoyaltyError
from loyalty.models import Card, CardBatch, CardOperation
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


@admin.register(CardBatch)
class CardBatchAdmin(ModelAdmin):
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
            buffer = LineBuffer()
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


class CardEmitForm(forms.Form):
    count = forms.IntegerField(label=_("number of cards"), min_value=1, max_value=MAX_EMISSION)


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


class CardOperationInline(ReadOnlyAdminMixin, TabularInline):
    """What was done to the card, by whom and why (written by the operations only)."""

    model = CardOperation
    fk_name = "card"
    fields = ["at", "kind", "actor", "reason", "details"]
    readonly_fields = fields
    ordering = ["-at", "-pk"]
    extra = 0
    verbose_name_plural = _("operations on this card")


@admin.register(Card)
class CardAdmin(ImportButtonMixin, ModelAdmin):
    """Cards; "Import a file" leads to the card import (CSV or XLSX): a summary, then the
    rejected rows, then the import."""

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
