"""Contact verification in the admin: the verified / unverified badges of a customer's phone
and email, the customer's "Verify contacts" page (send a code by SMS or a link by email, enter
the code the customer reads out) and the read-only list of verifications.

The pages call ``crm.services.verification`` only; the message itself is queued by the outbox
(communications) in the same transaction."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.contacts import mask_email
from crm.errors import VerificationError
from crm.forms import VerificationCodeForm, verification_done_text, verification_sent_text
from crm.models import ContactVerification, Customer
from crm.phones import mask_phone
from crm.services.verification import (
    verification_confirm_code,
    verification_start,
    verifications_current,
)

Channel = ContactVerification.Channel


def verified_badge(is_verified: bool, has_address: bool = True) -> str:
    """A small "verified" / "unverified" badge (nothing for a missing contact)."""
    if not has_address:
        return "—"
    if is_verified:
        return format_html(
            '<span class="badge-verified" style="color:#15803d">✔ {}</span>', _("verified")
        )
    return format_html(
        '<span class="badge-unverified" style="color:#b45309">{}</span>', _("unverified")
    )


class CustomerVerificationMixin:
    """For ``CustomerAdmin``: the badges and the "Verify contacts" page. Staff who may change
    customers may send codes and confirm them; others get a 403."""

    @admin.display(description=_("phone status"))
    def phone_status(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return verified_badge(obj.phone_verified, bool(obj.phone))

    @admin.display(description=_("email status"))
    def email_status(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return verified_badge(obj.email_verified, bool(obj.email))

    def verification_urls(self):
        from django.urls import path

        return [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),  # type: ignore[attr-defined]
                name="crm_customer_verify",
            )
        ]

    def verify_view(self, request, object_id):
        customer = get_object_or_404(Customer, pk=object_id)
        if not self.has_change_permission(request, customer):  # type: ignore[attr-defined]
            raise PermissionDenied
        code_form = VerificationCodeForm()
        if request.method == "POST":
            action = request.POST.get("action", "")
            if action in ("send_sms", "send_email"):
                channel = Channel.SMS if action == "send_sms" else Channel.EMAIL
                try:
                    verification = verification_start(
                        customer=customer,
                        channel=channel,
                        user=request.user,
                        link_base=request.build_absolute_uri("/"),
                    )
                except VerificationError as error:
                    messages.error(request, str(error))
                else:
                    messages.success(request, verification_sent_text(verification))
                return redirect("admin:crm_customer_verify", customer.pk)
            if action == "confirm":
                code_form = VerificationCodeForm(request.POST)
                if code_form.is_valid():
                    try:
                        verification = verification_confirm_code(
                            customer=customer,
                            channel=code_form.cleaned_data["channel"],
                            code=code_form.cleaned_data["code"],
                        )
                    except VerificationError as error:
                        messages.error(request, str(error))
                    else:
                        messages.success(request, verification_done_text(verification))
                    return redirect("admin:crm_customer_verify", customer.pk)
            else:
                raise PermissionDenied
        customer.refresh_from_db()
        return TemplateResponse(
            request,
            "admin/crm/customer/verify.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "title": _("Verify contacts"),
                "customer": customer,
                "original": customer,
                "opts": Customer._meta,
                "phone": mask_phone(customer.phone) if customer.phone else None,
                "email": mask_email(customer.email) if customer.email else None,
                "phone_badge": verified_badge(customer.phone_verified, bool(customer.phone)),
                "email_badge": verified_badge(customer.email_verified, bool(customer.email)),
                "current": verifications_current(customer),
                "code_form": code_form,
            },
        )


@admin.register(ContactVerification)
class ContactVerificationAdmin(ModelAdmin):
    """The codes and links sent (read-only; never the code itself)."""

    list_display = [
        "created_at",
        "customer",
        "channel",
        "masked_address",
        "expires_at",
        "attempts",
        "verified_at",
        "superseded_at",
        "started_by",
    ]
    list_filter = ["channel", "created_at"]
    search_fields = ["customer__public_id", "customer__last_name"]
    list_select_related = ["customer", "started_by"]
    date_hierarchy = "created_at"
    fields = [
        "customer",
        "channel",
        "masked_address",
        "created_at",
        "expires_at",
        "attempts",
        "verified_at",
        "superseded_at",
        "started_by",
    ]
    readonly_fields = fields

    @admin.display(description=_("address"))
    def masked_address(self, obj):
        if obj.channel == Channel.SMS:
            return mask_phone(obj.address)
        return mask_email(obj.address)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
