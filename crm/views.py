"""The one public page of the customer base: confirming an email address from its link.

Opening the link (GET) shows the address and a Confirm button and changes nothing, so the
link scanners of mail services, which open every link, cannot verify anyone; the button's
POST (with Django's CSRF check) confirms. The page speaks the visitor's language (English or
Russian, from the browser or the switch on the page)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from crm.contacts import mask_email
from crm.errors import VerificationError
from crm.services.verification import verification_confirm_link, verification_link_read


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    context: dict = {"token": token, "confirmed": False, "error": None, "address": None}
    try:
        verification = verification_link_read(token)
        context["address"] = mask_email(verification.address)
        if request.method == "POST":
            verification_confirm_link(token)
            context["confirmed"] = True
    except VerificationError as error:
        context["error"] = error
        return TemplateResponse(request, "verify/email.html", context, status=error.status)
    return TemplateResponse(request, "verify/email.html", context)
