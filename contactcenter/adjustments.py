"""Manual adjustments of a customer's points: request, approve, reject.

An operator asks for a credit or a debit with a reason, on a ticket of the customer. Up to the
currency's approval threshold (``AdjustmentPolicy``, else ``ADJUSTMENT_APPROVAL_THRESHOLD``) it
is posted at once; above it, it waits until another user with ``approve_adjustment`` approves it
(then it is posted) or rejects it. The posting is double entry: the customer's account against
the programme's adjustments account; a debit takes the customer's earned lots first-expiring
first and never overdraws the account. Each step writes an ``AuditEvent`` and an internal note
on the ticket; an applied adjustment queues a message to the customer unless told not to.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.trail import record, snapshot
from communications.services import messages_queue
from contactcenter.errors import (
    AdjustmentAmountInvalid,
    AdjustmentDecided,
    AdjustmentInsufficientPoints,
    AdjustmentNotAllowed,
    AdjustmentReasonRequired,
    AdjustmentSelfApproval,
    AdjustmentTicketInvalid,
    DecisionNoteRequired,
)
from contactcenter.models import Adjustment, AdjustmentPolicy, Ticket
from contactcenter.services import ticket_comment
from crm.models import Customer
from loyalty.errors import InsufficientPoints
from loyalty.locks import accounts_for_update
from loyalty.models import Account, Currency, Lot, Posting
from loyalty.money import quantize
from loyalty.services.ledger import Actor, Leg, customer_account, posting_create, programme_account
from loyalty.services.lots import lots_take_legs

APPROVE_PERMISSION = "contactcenter.approve_adjustment"


def adjustment_threshold(currency: Currency) -> Decimal:
    """The largest |amount| of ``currency`` posted without approval."""
    policy = AdjustmentPolicy.objects.filter(currency=currency).first()
    if policy is not None:
        return policy.approval_threshold
    return Decimal(str(settings.ADJUSTMENT_APPROVAL_THRESHOLD))


def _amount_checked(amount, currency: Currency) -> Decimal:
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise AdjustmentAmountInvalid() from None
    if not amount.is_finite() or amount == 0:
        raise AdjustmentAmountInvalid()
    if quantize(amount, currency.decimal_places) != amount:
        raise AdjustmentAmountInvalid()
    return amount


def _spendable_lots(account: Account, now) -> list[Lot]:
    """The account's earned, active, unexpired lots."""
    return list(Lot.objects.filter(account=account).spendable(now))


def _debit_available(account: Account, lots: list[Lot]) -> Decimal:
    # Points reserved by a hold (a calculate waiting for its confirm) are not the operator's.
    return min(sum((lot.remaining for lot in lots), Decimal(0)), account.balance) - account.held


def _check_debit(customer: Customer, currency: Currency, amount: Decimal) -> None:
    """Refuse a debit the customer's points cannot cover now (read without a lock)."""
    account = Account.objects.filter(
        kind=Account.Kind.CUSTOMER, customer=customer, currency=currency
    ).first()
    available = (
        _debit_available(account, _spendable_lots(account, timezone.now()))
        if account is not None
        else Decimal(0)
    )
    if available < -amount:
        raise AdjustmentInsufficientPoints(available=str(available))


@transaction.atomic
def adjustment_request(
    *,
    customer: Customer,
    currency: Currency,
    amount,
    reason: str,
    ticket: Ticket,
    user,
    notify: bool = True,
) -> Adjustment:
    """Ask for a manual credit (positive ``amount``) or debit (negative) of ``customer``'s
    points of ``currency``; post it at once when it is within the threshold. Return it.

    Raises ``AdjustmentReasonRequired``, ``AdjustmentAmountInvalid`` (zero, or finer than the
    currency), ``AdjustmentTicketInvalid`` (the ticket is another customer's, or closed) and
    ``AdjustmentInsufficientPoints`` (a debit larger than the spendable points). Nothing is
    written when any of them is raised.
    """
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentReasonRequired()
    amount = _amount_checked(amount, currency)
    if ticket is None or ticket.customer_id != customer.pk or ticket.status == Ticket.Status.CLOSED:
        raise AdjustmentTicketInvalid()
    if amount < 0:
        _check_debit(customer, currency, amount)
    adjustment = Adjustment.objects.create(
        customer=customer,
        currency=currency,
        amount=amount,
        reason=reason,
        ticket=ticket,
        notify=notify,
        requested_by=user,
    )
    needs_approval = abs(amount) > adjustment_threshold(currency)
    _note(
        ticket,
        user,
        _("Adjustment %(amount)s %(currency)s requested: %(reason)s")
        % {"amount": _signed(amount, currency), "currency": currency.code, "reason": reason},
    )
    if not needs_approval:
        _apply(adjustment, user=user)
    # After the posting: the event says whether it was applied at once, and by which posting.
    record(AuditEvent.Action.ADJUST, adjustment, after=snapshot(adjustment), note=reason, user=user)
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment: Adjustment, user, note: str = "") -> Adjustment:
    """Approve a pending adjustment and post it; return it.

    The adjustment's row is locked first, so a double click or two supervisors at once post
    it once: the second finds it decided and gets ``AdjustmentDecided``. Raises
    ``AdjustmentNotAllowed`` without the permission, ``AdjustmentSelfApproval`` for one's own
    request and ``AdjustmentInsufficientPoints`` when the debit no longer fits the balance
    (it stays pending: reject it, or approve it once the points are there).
    """
    locked = _locked_pending(adjustment, user)
    before = snapshot(locked)
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.decision_note = (note or "").strip()[:500]
    _apply(locked, user=user, save_fields=["decided_by", "decided_at", "decision_note"])
    record(
        AuditEvent.Action.APPROVE,
        locked,
        before={"status": before["status"]},
        after={"status": locked.status, "posting_id": locked.posting_id},
        note=locked.decision_note,
        user=user,
    )
    _refresh(adjustment, locked)
    return adjustment


@transaction.atomic
def adjustment_reject(*, adjustment: Adjustment, user, note: str) -> Adjustment:
    """Reject a pending adjustment with a note; nothing is posted. Return it.

    Raises ``DecisionNoteRequired``, ``AdjustmentNotAllowed``, ``AdjustmentSelfApproval`` and
    ``AdjustmentDecided``, as ``adjustment_approve`` does.
    """
    note = (note or "").strip()
    if not note:
        raise DecisionNoteRequired()
    locked = _locked_pending(adjustment, user)
    locked.status = Adjustment.Status.REJECTED
    locked.decided_by = user
    locked.decided_at = timezone.now()
    locked.decision_note = note[:500]
    locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    record(
        AuditEvent.Action.REJECT,
        locked,
        before={"status": Adjustment.Status.PENDING},
        after={"status": locked.status},
        note=note,
        user=user,
    )
    _note(
        locked.ticket,
        user,
        _("Adjustment %(amount)s %(currency)s rejected: %(note)s")
        % {
            "amount": _signed(locked.amount, locked.currency),
            "currency": locked.currency.code,
            "note": note,
        },
    )
    _refresh(adjustment, locked)
    return adjustment


def _locked_pending(adjustment: Adjustment, user) -> Adjustment:
    if not user.has_perm(APPROVE_PERMISSION):
        raise AdjustmentNotAllowed()
    locked = (
        Adjustment.objects.select_related("currency", "customer", "ticket")
        .select_for_update(of=("self",))
        .get(pk=adjustment.pk)
    )
    if locked.status != Adjustment.Status.PENDING:
        raise AdjustmentDecided(status=locked.status)
    if locked.requested_by_id == user.pk:
        raise AdjustmentSelfApproval()
    return locked


def _refresh(target: Adjustment, source: Adjustment) -> None:
    for field in Adjustment._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


def _apply(adjustment: Adjustment, *, user, save_fields: list[str] | None = None) -> None:
    """Post the adjustment, mark it applied, note it on the ticket and tell the customer.

    The customer's account is locked before its lots are read: the debit's legs take what no
    one else can spend meanwhile."""
    currency = adjustment.currency
    customer = adjustment.customer
    now = timezone.now()
    account = accounts_for_update([customer_account(customer, currency).pk]).get()
    other = programme_account(currency, Account.Purpose.ADJUSTMENTS)
    amount = adjustment.amount
    if amount > 0:
        expires_at = (
            now + timedelta(days=currency.lifetime_days) if currency.lifetime_days else None
        )
        legs = [Leg(account=account, amount=amount, expires_at=expires_at)]
    else:
        lots = _spendable_lots(account, now)
        available = _debit_available(account, lots)
        if available < -amount:
            raise AdjustmentInsufficientPoints(available=str(available))
        legs = lots_take_legs(account, -amount, now, lots)
    legs.append(Leg(account=other, amount=-amount))
    try:
        posting = posting_create(
            kind=Posting.Kind.ADJUST,
            cause=Posting.Cause.ADJUSTMENT,
            actor=Actor.for_staff(user),
            legs=legs,
            cause_ref=f"adjustment:{adjustment.pk}",
            description=adjustment.reason[:300],
        )
    except InsufficientPoints as exc:
        raise AdjustmentInsufficientPoints(**exc.details) from exc
    adjustment.posting = posting
    adjustment.status = Adjustment.Status.APPLIED
    adjustment.save(update_fields=["posting", "status", *(save_fields or [])])
    balance = Account.objects.only("balance").get(pk=account.pk).balance
    _note(
        adjustment.ticket,
        user,
        _("Adjustment %(amount)s %(currency)s posted; the balance is now %(balance)s.")
        % {
            "amount": _signed(amount, currency),
            "currency": currency.code,
            "balance": _number(balance, currency),
        },
    )
    if adjustment.notify:
        messages_queue(customer, adjustment_message(adjustment, balance))


def adjustment_message(adjustment: Adjustment, balance: Decimal) -> str:
    """The customer's message about an applied adjustment, in the project's language."""
    currency = adjustment.currency
    values = {
        "amount": _number(abs(adjustment.amount), currency),
        "currency": currency.name,
        "balance": _number(balance, currency),
        "reason": adjustment.reason,
    }
    with translation.override(settings.LANGUAGE_CODE):
        if adjustment.amount > 0:
            text = _(
                "%(amount)s %(currency)s have been credited to your account. Reason: "
                "%(reason)s. Your balance: %(balance)s."
            )
        else:
            text = _(
                "%(amount)s %(currency)s have been debited from your account. Reason: "
                "%(reason)s. Your balance: %(balance)s."
            )
        return text % values


def _number(amount: Decimal, currency: Currency) -> str:
    return formats.number_format(quantize(amount, currency.decimal_places), use_l10n=True)


def _signed(amount: Decimal, currency: Currency) -> str:
    return ("+" if amount > 0 else "−") + _number(abs(amount), currency)


def _note(ticket: Ticket, user, text: str) -> None:
    """An internal note on the ticket (never shown to the customer, no first response)."""
    ticket_comment(ticket, body=text, author=user, is_internal=True)
