"""The operator console (``/staff/console/``): find a customer, see everything about them on one
page, and act: cards, tickets, adjustments, messages. Every write goes through a service; every
outcome is a Django message on the next page."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communications.models import Message
from communications.services import message_resend
from contactcenter.adjustments import (
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    adjustment_threshold,
)
from contactcenter.forms import (
    AdjustmentForm,
    CardBlockForm,
    CardReplaceForm,
    DecisionForm,
    ResendForm,
    SearchForm,
    TicketOpenForm,
)
from contactcenter.masking import contact_reveal, contacts_visible, mask
from contactcenter.models import Adjustment, Ticket
from contactcenter.selectors import (
    adjustments_pending,
    customer_console,
    customer_profile,
    customer_rfm,
    customer_search,
    promotions_received,
)
from contactcenter.services import ticket_open
from crm.errors import VerificationError
from crm.forms import VerificationCodeForm, verification_done_text, verification_sent_text
from crm.models import ContactVerification, Customer
from crm.services.verification import (
    verification_confirm_code,
    verification_start,
    verifications_current,
)
from loyalty.errors import LoyaltyError
from loyalty.models import Card, staff_partner_id
from loyalty.services.card_operations import (
    card_activate,
    card_block,
    card_mark_lost,
    card_replace,
    card_unblock,
)

CONSOLE_PERMISSION = "contactcenter.use_console"
APPROVE_PERMISSION = "contactcenter.approve_adjustment"
# Sending a verification code and confirming it changes the customer's verified flags.
VERIFY_PERMISSION = "crm.change_customer"


def console_view(*permissions: str):
    """Staff only (else the admin login), with one of ``permissions`` (else 403); the
    console's own permission by default. Never partner staff: the console shows the
    coalition's customers."""
    permissions = permissions or (CONSOLE_PERMISSION,)

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if staff_partner_id(request.user) is not None:
                raise PermissionDenied
            if not any(request.user.has_perm(p) for p in permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_member_required(wrapped)

    return decorate


def _page(request: HttpRequest, template: str, context: dict) -> TemplateResponse:
    """Render a console page inside the back office's frame (header, navigation, language)."""
    return TemplateResponse(
        request,
        template,
        {**admin.site.each_context(request), **context},
    )


def _customer_url(customer: Customer) -> str:
    return reverse("console:customer", args=[customer.pk])


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def _open_tickets(customer: Customer):
    return (
        Ticket.objects.filter(customer=customer)
        .exclude(status=Ticket.Status.CLOSED)
        .order_by("-created_at")
    )


@console_view()
def console_search(request: HttpRequest) -> HttpResponse:
    """Find a customer; one match opens them, several are listed."""
    form = SearchForm(request.GET or None)
    results = None
    if form.is_valid():
        results = customer_search(form.cleaned_data["q"])
        if len(results) == 1:
            return redirect("console:customer", results[0].pk)
    return _page(
        request,
        "staff/console/search.html",
        {
            "title": _("Operator console"),
            "search_form": form,
            "results": [
                {"customer": c, "phone": mask("phone", c.phone), "email": mask("email", c.email)}
                for c in results or []
            ],
            "searched": results is not None,
            "pending_count": _pending_count(request),
        },
    )


def _pending_count(request: HttpRequest) -> int | None:
    if not request.user.has_perm(APPROVE_PERMISSION):
        return None
    return Adjustment.objects.filter(status=Adjustment.Status.PENDING).count()


@console_view(CONSOLE_PERMISSION, "crm.view_customer")
def console_customer(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about one customer (the customer 360), with the forms to act for the
    console's users; a marketer who may see customers reads it without the forms."""
    customer = get_object_or_404(Customer, pk=pk)
    visible = contacts_visible(request.user, customer)
    can_verify = request.user.has_perm(VERIFY_PERMISSION) and not customer.is_anonymised
    data = customer_console(customer)
    adjustment_form = AdjustmentForm(
        tickets=_open_tickets(customer),
        initial={"ticket": data["tickets"][0].pk if data["tickets"] else None},
    )
    context = {
        "title": _("Customer"),
        "customer": customer,
        "contacts_visible": visible,
        "phone": customer.phone if visible else mask("phone", customer.phone),
        "email": customer.email if visible else mask("email", customer.email),
        "search_form": SearchForm(),
        "ticket_form": TicketOpenForm(initial={"subject": ""}),
        "adjustment_form": adjustment_form,
        "block_form": CardBlockForm(),
        "replace_form": CardReplaceForm(),
        "thresholds": {
            account.currency.code: adjustment_threshold(account.currency)
            for account in data["accounts"]
        },
        "pending_count": _pending_count(request),
        "can_act": request.user.has_perm(CONSOLE_PERMISSION),
        "can_verify": can_verify,
        "verifications": verifications_current(customer) if can_verify else {},
        "code_form": VerificationCodeForm(),
        "received": promotions_received(customer),
        **customer_profile(customer),
        **customer_rfm(customer),
        **data,
    }
    return _page(request, "staff/console/customer.html", context)


@require_POST
@console_view(CONSOLE_PERMISSION, "crm.view_customer")
def console_reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """Show one masked contact in full (as a message on the next page) and record it."""
    customer = get_object_or_404(Customer, pk=pk)
    if field not in ("phone", "email"):
        raise PermissionDenied
    value = contact_reveal(customer=customer, field=field, user=request.user)
    label = _("Phone") if field == "phone" else _("Email")
    messages.info(
        request,
        _("%(label)s of %(customer)s: %(value)s")
        % {"label": label, "customer": customer, "value": value or "—"},
    )
    return _back(request, _customer_url(customer))


@require_POST
@console_view()
def console_ticket_open(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = TicketOpenForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The ticket was not opened: %(errors)s") % _errors(form))
        return redirect(_customer_url(customer))
    try:
        ticket = ticket_open(
            channel=Ticket.Channel.CALL,
            category=form.cleaned_data["category"],
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            customer=customer,
            assignee=request.user,
            actor=request.user,
        )
    except LoyaltyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Ticket #%(number)s is open; the customer's contacts are shown in full.")
            % {"number": ticket.number},
        )
    return redirect(_customer_url(customer))


@require_POST
@console_view()
def console_adjust(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = AdjustmentForm(request.POST, tickets=_open_tickets(customer))
    if not form.is_valid():
        messages.error(request, _("The adjustment was not made: %(errors)s") % _errors(form))
        return redirect(_customer_url(customer))
    try:
        adjustment = adjustment_request(
            customer=customer,
            currency=form.cleaned_data["currency"],
            amount=form.signed_amount(),
            reason=form.cleaned_data["reason"],
            ticket=form.cleaned_data["ticket"],
            notify=form.cleaned_data["notify"],
            user=request.user,
        )
    except LoyaltyError as exc:
        messages.error(request, _("The adjustment was not made: %(error)s") % {"error": exc})
        return redirect(_customer_url(customer))
    if adjustment.status == Adjustment.Status.APPLIED:
        messages.success(request, _("The adjustment is posted."))
    else:
        messages.warning(
            request,
            _("The adjustment is above the threshold and waits for a supervisor's approval."),
        )
    return redirect(_customer_url(customer))


@require_POST
@console_view()
def console_card(request: HttpRequest, pk: int, card_pk: int, action: str) -> HttpResponse:
    """Activate, block, unblock, mark lost or replace one of the customer's cards."""
    customer = get_object_or_404(Customer, pk=pk)
    card = get_object_or_404(Card, pk=card_pk, customer=customer)
    user = request.user
    try:
        if action == "activate":
            card_activate(card=card, user=user)
        elif action == "unblock":
            card_unblock(card=card, user=user)
        elif action in ("block", "lost"):
            form = CardBlockForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Give a reason to block the card."))
                return redirect(_customer_url(customer))
            if action == "block":
                card_block(card=card, reason=form.cleaned_data["reason"], user=user)
            else:
                card_mark_lost(card=card, reason=form.cleaned_data["reason"], user=user)
        elif action == "replace":
            form = CardReplaceForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Enter the new card's number."))
                return redirect(_customer_url(customer))
            card_replace(old_card=card, new_card_number=form.cleaned_data["new_number"], user=user)
        else:
            raise PermissionDenied
    except LoyaltyError as exc:
        messages.error(
            request, _("Card %(number)s: %(error)s") % {"number": card.number, "error": exc}
        )
    else:
        messages.success(request, _("Card %(number)s: done.") % {"number": card.number})
    return redirect(_customer_url(customer))


@require_POST
@console_view()
def console_resend(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = ResendForm(request.POST)
    message = None
    if form.is_valid():
        message = Message.objects.filter(customer=customer, pk=form.cleaned_data["message"]).first()
    if message is None:
        messages.error(request, _("No such message of this customer."))
    elif message.verification_id is not None:
        messages.error(request, _("A verification code is not resent: send a new one."))
    elif message_resend(message) is None:
        messages.error(request, _("The customer no longer consents to this channel."))
    else:
        messages.success(request, _("The message is queued again."))
    return redirect(_customer_url(customer))


@require_POST
@console_view(VERIFY_PERMISSION)
def console_verify_send(request: HttpRequest, pk: int, channel: str) -> HttpResponse:
    """Send a verification code (``sms``) or link (``email``) to the customer's contact."""
    customer = get_object_or_404(Customer, pk=pk)
    if channel not in ContactVerification.Channel.values:
        raise PermissionDenied
    try:
        verification = verification_start(
            customer=customer,
            channel=channel,
            user=request.user,
            link_base=request.build_absolute_uri("/"),
        )
    except VerificationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, verification_sent_text(verification))
    return redirect(_customer_url(customer))


@require_POST
@console_view(VERIFY_PERMISSION)
def console_verify_code(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm the code the customer reads out on the phone."""
    customer = get_object_or_404(Customer, pk=pk)
    form = VerificationCodeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The code was not checked: %(errors)s") % _errors(form))
        return redirect(_customer_url(customer))
    try:
        verification = verification_confirm_code(
            customer=customer,
            channel=form.cleaned_data["channel"],
            code=form.cleaned_data["code"],
        )
    except VerificationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, verification_done_text(verification))
    return redirect(_customer_url(customer))


@console_view(APPROVE_PERMISSION)
def console_adjustments(request: HttpRequest) -> HttpResponse:
    """The adjustments waiting for approval."""
    return _page(
        request,
        "staff/console/adjustments.html",
        {
            "title": _("Adjustments waiting for approval"),
            "adjustments": adjustments_pending(),
            "search_form": SearchForm(),
            "pending_count": None,
        },
    )


@require_POST
@console_view(APPROVE_PERMISSION)
def console_decide(request: HttpRequest, adjustment_pk: int, decision: str) -> HttpResponse:
    adjustment = get_object_or_404(Adjustment, pk=adjustment_pk)
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if decision == "approve":
            adjustment_approve(adjustment=adjustment, user=request.user, note=note)
            messages.success(request, _("The adjustment is approved and posted."))
        elif decision == "reject":
            adjustment_reject(adjustment=adjustment, user=request.user, note=note)
            messages.success(request, _("The adjustment is rejected."))
        else:
            raise PermissionDenied
    except LoyaltyError as exc:
        messages.error(request, str(exc))
    return _back(request, reverse("console:adjustments"))


def _errors(form) -> dict:
    return {
        "errors": "; ".join(
            f"{form.fields[name].label if name in form.fields else ''}: {' '.join(errs)}".lstrip(
                ": "
            )
            for name, errs in form.errors.items()
        )
    }
