"""The review queue of possible duplicates: each pair side by side with why it was suggested,
merged into the customer the reviewer keeps (the usual merge) or dismissed for good."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin

from crm.models import Customer, DuplicateSuggestion
from crm.phones import mask_phone
from crm.services.duplicates import duplicate_dismiss
from loyalty.errors import LoyaltyError
from loyalty.services.duplicates import duplicate_merge

Status = DuplicateSuggestion.Status


def _mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return "—"
    local, _at, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


@admin.register(DuplicateSuggestion)
class DuplicateSuggestionAdmin(ModelAdmin):
    list_display = ["first", "second", "why", "status", "found_at", "decide"]
    list_filter = ["status"]
    list_select_related = ["customer_a", "customer_b"]
    search_fields = [
        "customer_a__last_name",
        "customer_b__last_name",
        "customer_a__phone",
        "customer_b__phone",
    ]
    readonly_fields = ["customer_a", "customer_b", "why", "status", "found_at", "decided_at"]
    fields = readonly_fields + ["decided_by"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                a_cards=Count("customer_a__cards", distinct=True),
                b_cards=Count("customer_b__cards", distinct=True),
            )
        )

    def _person(self, customer: Customer, cards: int | None):
        url = reverse("admin:crm_customer_change", args=[customer.pk])
        return format_html(
            '<a href="{}"><strong>{}</strong></a><br>{} · {} · {}<br>{} {} · {}',
            url,
            customer.full_name or customer,
            customer.birth_date or "—",
            mask_phone(customer.phone or "") or "—",
            _mask_email(customer.email),
            _("registered"),
            customer.registered_at.date(),
            ngettext("%(count)d card", "%(count)d cards", cards or 0) % {"count": cards or 0},
        )

    @admin.display(description=_("customer"), ordering="customer_a")
    def first(self, obj):
        return self._person(obj.customer_a, getattr(obj, "a_cards", None))

    @admin.display(description=_("possibly the same as"), ordering="customer_b")
    def second(self, obj):
        return self._person(obj.customer_b, getattr(obj, "b_cards", None))

    @admin.display(description=_("why"))
    def why(self, obj):
        return obj.reasons_shown()

    @admin.display(description=_("decision"))
    def decide(self, obj):
        if obj.status != Status.OPEN:
            return obj.decided_at.date() if obj.decided_at else "—"
        return format_html(
            '<a class="duplicate-review" href="{}">{}</a>',
            reverse("admin:crm_duplicatesuggestion_decide", args=[obj.pk]),
            _("Review"),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="crm_duplicatesuggestion_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, pk: int):
        """The pair side by side (GET), then the decision (POST): merge keeping one of the two,
        or not the same person."""
        if not self.has_change_permission(request) or not request.user.has_perm(
            "crm.change_customer"
        ):
            raise PermissionDenied
        suggestion = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "GET":
            return TemplateResponse(
                request,
                "admin/crm/duplicatesuggestion/decide.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Are they one person?"),
                    "opts": self.model._meta,
                    "suggestion": suggestion,
                    "people": [
                        self._person(suggestion.customer_a, suggestion.a_cards),
                        self._person(suggestion.customer_b, suggestion.b_cards),
                    ],
                },
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        back = HttpResponseRedirect(reverse("admin:crm_duplicatesuggestion_changelist"))
        if suggestion.status != Status.OPEN:
            self.message_user(request, _("This pair is decided already."), messages.WARNING)
            return back
        if request.POST.get("dismiss"):
            duplicate_dismiss(suggestion=suggestion, user=request.user)
            self.message_user(
                request, _("Noted: not the same person; never suggested again."), messages.SUCCESS
            )
            return back
        keep_id = request.POST.get("keep", "")
        if keep_id not in (str(suggestion.customer_a_id), str(suggestion.customer_b_id)):
            self.message_user(request, _("Choose which customer to keep."), messages.ERROR)
            return back
        keep = Customer.objects.get(pk=int(keep_id))
        try:
            duplicate_merge(suggestion=suggestion, keep=keep, user=request.user)
        except LoyaltyError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return back
        self.message_user(
            request,
            _("Merged: cards, points, tier and history are now %(keep)s's.") % {"keep": keep},
            messages.SUCCESS,
        )
        return back
