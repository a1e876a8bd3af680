"""Forms of the operator console. They only parse input; the services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from contactcenter.models import Ticket, TicketCategory
from loyalty.models import Currency


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a customer"),
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "accesskey": "f",
                "autocomplete": "off",
                "placeholder": _("phone, card number, email or name"),
                "size": 40,
            }
        ),
    )


class TicketOpenForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("category"), queryset=TicketCategory.objects.filter(is_active=True)
    )
    subject = forms.CharField(
        label=_("subject"), max_length=300, widget=forms.TextInput(attrs={"accesskey": "t"})
    )
    body = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class AdjustmentForm(forms.Form):
    CREDIT, DEBIT = "credit", "debit"

    direction = forms.ChoiceField(
        label=_("operation"),
        choices=[(CREDIT, _("credit")), (DEBIT, _("debit"))],
        initial=CREDIT,
        widget=forms.RadioSelect,
    )
    amount = forms.DecimalField(
        label=_("points"),
        min_value=Decimal("0.0001"),
        max_digits=18,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"accesskey": "a", "step": "any"}),
    )
    currency = forms.ModelChoiceField(
        label=_("currency"), queryset=Currency.objects.filter(is_active=True), empty_label=None
    )
    ticket = forms.ModelChoiceField(
        label=pgettext_lazy("support request", "ticket"),
        queryset=Ticket.objects.none(),
        empty_label=None,
        help_text=_("Every adjustment belongs to a ticket of this customer: open one first."),
    )
    reason = forms.CharField(
        label=_("reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    notify = forms.BooleanField(label=_("notify the customer"), required=False, initial=True)

    def __init__(self, *args, tickets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ticket"].queryset = tickets

    def signed_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        return -amount if self.cleaned_data["direction"] == self.DEBIT else amount


class CardBlockForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=300)


class CardReplaceForm(forms.Form):
    new_number = forms.CharField(label=_("new card number"), max_length=32)


class ResendForm(forms.Form):
    message = forms.IntegerField(widget=forms.HiddenInput)


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("note"), max_length=500, required=False)
