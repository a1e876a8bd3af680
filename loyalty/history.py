"""A customer's points history for the back office: balances per currency with their lots,
the receipts, and the ledger entries with their causes and actors."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from crm.models import Customer
from loyalty.models import Account, LedgerEntry, Lot, Receipt


def customer_history(customer: Customer, *, page: int = 1, per_page: int = 50) -> dict:
    accounts = list(
        Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=customer)
        .select_related("currency")
        .order_by("currency__code")
    )
    lots = (
        Lot.objects.filter(account__in=accounts)
        .exclude(remaining=0)
        .select_related("account__currency", "receipt")
        .order_by("account_id", "expires_at", "entry_id")
    )
    entries = (
        LedgerEntry.objects.filter(account__in=accounts)
        .select_related(
            "currency",
            "posting",
            "posting__receipt",
            "posting__terminal",
            "posting__user",
            "posting__partner",
        )
        .order_by("-pk")
    )
    receipts = (
        Receipt.objects.filter(customer=customer)
        .select_related("partner", "store", "terminal")
        .order_by("-sold_at")
    )
    return {
        "accounts": accounts,
        "lots": list(lots),
        "entries": Paginator(entries, per_page).get_page(page),
        "receipts": list(receipts[:100]),
        "receipt_count": receipts.count(),
    }


@staff_member_required
def customer_history_view(request, object_id, admin_site):
    customer = get_object_or_404(Customer, pk=object_id)
    if not request.user.has_perm("crm.view_customer"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    context = {
        **admin_site.each_context(request),
        "title": _("Points history: %(customer)s") % {"customer": customer},
        "customer": customer,
        "opts": Customer._meta,
        **customer_history(customer, page=request.GET.get("page", 1)),
    }
    return TemplateResponse(request, "admin/crm/customer/points_history.html", context)
