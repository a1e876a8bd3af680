"""The customers and the outbox of the core apps, registered again with contacts masked for the
users who may not see them (``contactcenter.masking``)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from communications.admin import MessageAdmin
from communications.models import Message
from contactcenter.admin.tickets import contacts_masked, fields_swapped
from contactcenter.masking import contacts_unmasked_expression, mask
from crm.models import Customer
from loyalty.admin.customers import CustomerAdmin


class MaskedCustomerAdmin(CustomerAdmin):
    """The customer admin of ``crm``, with phones and emails masked for users who may not see
    them (``contactcenter.masking``). The rule lives here, where tickets are: the core ``crm``
    app knows nothing of tickets."""

    list_display = [
        "public_id",
        "full_name",
        "list_phone",
        "list_email",
        "registered_at",
        "source",
        "referrer",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(contacts_unmasked=contacts_unmasked_expression(request.user))
        )

    def _masked(self, obj) -> bool:
        return contacts_masked(obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._masked(obj):
            return fieldsets
        return fields_swapped(fieldsets, {"phone": "contact_phone", "email": "contact_email"})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._masked(obj):
            # Read-only removes the form's phone and email fields: a masked value is never
            # posted back over the stored one.
            fields += ["phone", "email", "contact_phone", "contact_email"]
        return fields

    def _contact(self, obj, field: str):
        value = getattr(obj, field)
        if not value:
            return "—"
        if not self._masked(obj):
            return value
        from django.urls import reverse

        masked = mask(field, value)
        url = reverse("console:reveal", args=[obj.pk, field])
        change = reverse("admin:crm_customer_change", args=[obj.pk])
        return format_html(
            '<span class="masked">{}</span> <button type="submit" formaction="{}?next={}" '
            'formnovalidate id="reveal-{}">{}</button>',
            masked,
            url,
            change,
            field,
            _("Reveal"),
        )

    @admin.display(description=_("phone"), ordering="phone")
    def contact_phone(self, obj):
        return self._contact(obj, "phone")

    @admin.display(description=_("phone"), ordering="phone")
    def list_phone(self, obj):
        # The list never showed full phones (crm's own mask keeps the operator code); users
        # who may not see the contacts get the stricter mask.
        if self._masked(obj):
            return mask("phone", obj.phone) or "—"
        return self.masked_phone(obj)

    @admin.display(description=_("email"), ordering="email")
    def list_email(self, obj):
        if self._masked(obj):
            return mask("email", obj.email) or "—"
        return obj.email or "—"

    @admin.display(description=_("email"), ordering="email")
    def contact_email(self, obj):
        return self._contact(obj, "email")


admin.site.unregister(Customer)
admin.site.register(Customer, MaskedCustomerAdmin)


class MaskedMessageAdmin(MessageAdmin):
    """The outbox with each message's address (a phone or an email) masked as its customer's
    contacts are, for users who may not see them."""

    def get_list_display(self, request):
        return [
            "masked_address" if name == "address" else name
            for name in super().get_list_display(request)
        ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(contacts_unmasked=contacts_unmasked_expression(request.user, "customer"))
        )

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if contacts_masked(obj):
            return ["masked_address" if name == "address" else name for name in fields]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "masked_address"]

    @admin.display(description=_("address"), ordering="address")
    def masked_address(self, obj):
        if not contacts_masked(obj):
            return obj.address
        return mask("email" if "@" in obj.address else "phone", obj.address)


admin.site.unregister(Message)
admin.site.register(Message, MaskedMessageAdmin)
