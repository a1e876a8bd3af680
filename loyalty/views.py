"""Staff pages outside the admin: the peer-thanks page (mechanics.md item 22)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.db.models import Min, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Customer
from loyalty.errors import LoyaltyError
from loyalty.models import Currency, Lot, PeerThanks, staff_partner_id
from loyalty.services.thanks import (
    thanks_give,
    thanks_left,
    thanks_table,
    thanks_table_opens,
)


class ThanksForm(forms.Form):
    receiver = forms.ModelChoiceField(
        label=gettext_lazy("colleague"), queryset=Customer.objects.none()
    )
    amount = forms.DecimalField(label=gettext_lazy("how many"), min_value=Decimal("0.01"))
    reason = forms.CharField(
        label=gettext_lazy("for what"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, member: Customer, partner_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["receiver"].queryset = (
            _colleagues(partner_id).exclude(pk=member.pk).order_by("last_name", "first_name")
        )


def _colleagues(partner_id: int | None):
    """Staff members a user may thank and see: a partner's staff see only their partner's."""
    colleagues = Customer.objects.filter(staff_profile__isnull=False, is_anonymised=False)
    if partner_id is not None:
        colleagues = colleagues.filter(staff_profile__partner_id=partner_id)
    return colleagues


def _month(text: str | None, today: date) -> tuple[int, int]:
    """``YYYY-MM`` from the query, else the last month whose table is open."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        date(year, month, 1)
        return year, month
    except ValueError:
        pass
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    if today < thanks_table_opens(year, month):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return year, month


def _table_of(rows, partner_id: int | None):
    if partner_id is None:
        return rows
    mine = set(_colleagues(partner_id).values_list("pk", flat=True))
    return [row for row in rows if row.receiver.pk in mine]


@login_required
def thanks_page(request: HttpRequest) -> HttpResponse:
    """Give thanks with a reason; see what is left to give and the monthly table."""
    partner_id = staff_partner_id(request.user)
    currencies = Currency.objects.filter(given_as__isnull=False, is_active=True).order_by("code")
    if partner_id is not None:  # the coalition's and their own partner's programmes only
        currencies = currencies.filter(
            Q(programme__partner__isnull=True) | Q(programme__partner_id=partner_id)
        )
    currency = currencies.filter(code=request.GET.get("currency")).first() or currencies.first()
    profile = getattr(request.user, "staff_profile", None)
    member = profile.customer if profile is not None else None
    today = timezone.localdate()
    context = {
        **admin.site.each_context(request),  # the back office's frame
        "title": _("Thanks to colleagues"),
        "currency": currency,
        "currencies": currencies,
        "member": member,
    }
    if currency is None or member is None:
        return TemplateResponse(request, "staff/thanks.html", context)
    form = ThanksForm(request.POST or None, member=member, partner_id=partner_id)
    if request.method == "POST" and form.is_valid():
        try:
            thanks_give(
                giver=member,
                receiver=form.cleaned_data["receiver"],
                currency=currency,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except (LoyaltyError, InvalidOperation) as error:
            form.add_error(None, str(getattr(error, "detail", error)))
        else:
            messages.success(request, _("Thank you for thanking."))
            return redirect(f"{request.path}?currency={currency.code}")
    year, month = _month(request.GET.get("month"), today)
    opens = thanks_table_opens(year, month)
    burns = (
        Lot.objects.filter(account__customer=member, account__currency=currency)
        .spendable(timezone.now())
        .aggregate(first=Min("expires_at"))["first"]
    )
    context.update(
        form=form,
        left=thanks_left(member, currency),
        burns=burns,
        given=PeerThanks.objects.filter(giver=member, currency=currency)
        .select_related("receiver")
        .order_by("-given_at")[:20],
        month=date(year, month, 1),
        table_open=today >= opens,
        opens=opens,
        table=_table_of(thanks_table(currency, year, month), partner_id) if today >= opens else [],
    )
    return TemplateResponse(request, "staff/thanks.html", context)
