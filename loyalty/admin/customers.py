"""The customers' admin of ``crm`` with what the ledger adds: merging two customers (their
cards, points, tier and counters) and the page of a customer's balances, receipts and ledger
entries. ``crm`` knows nothing of the ledger; this module registers its admin again."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from crm.admin import CustomerAdmin as ProfileAdmin
from crm.models import Customer
from crm.phones import mask_phone
from loyalty.errors import LoyaltyError
from loyalty.history import customer_history_view
from loyalty.services.card_operations import customers_merge


class CustomerMergeForm(forms.Form):
    keep = forms.ChoiceField(
        label=_("keep"),
        widget=forms.RadioSelect,
        help_text=_(
            "The other customer's cards and points move to this one; the other customer is "
            "marked merged and no longer found at the register. This cannot be undone."
        ),
    )

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keep"].choices = [
            (str(c.pk), f"{c} ({c.public_id}, {mask_phone(c.phone) if c.phone else '—'})")
            for c in customers
        ]


class CustomerAdmin(ProfileAdmin):
    """Customers with the merge action and their points page."""

    actions = ["merge", "anonymise"]

    def get_urls(self):
        return [
            path(
                "<path:object_id>/points/",
                self.admin_site.admin_view(customer_history_view),
                {"admin_site": self.admin_site},
                name="crm_customer_points",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Merge the two selected customers"), permissions=["change"])
    def merge(self, request, queryset):
        customers = list(queryset.order_by("pk")[:3])
        if len(customers) != 2:
            self.message_user(
                request, _("Select exactly two customers to merge."), messages.WARNING
            )
            return None
        form = CustomerMergeForm(
            request.POST if "keep" in request.POST else None, customers=customers
        )
        if form.is_valid():
            keep = next(c for c in customers if str(c.pk) == form.cleaned_data["keep"])
            gone = next(c for c in customers if c.pk != keep.pk)
            try:
                customers_merge(keep=keep, gone=gone, user=request.user)
            except LoyaltyError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                _(
                    "%(gone)s is merged into %(keep)s: cards, points, tier, counters and "
                    "referrals are now %(keep)s's."
                )
                % {"gone": gone, "keep": keep},
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/crm/customer/merge.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Merge two customers"),
                "form": form,
                "customers": customers,
                "opts": self.model._meta,
            },
        )


admin.site.unregister(Customer)
admin.site.register(Customer, CustomerAdmin)
