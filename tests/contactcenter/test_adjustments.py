"""Manual adjustments: the approval threshold, approval and rejection, the ledger postings,
overdrafts, notifications, the audit trail and the ticket notes."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.test import override_settings
from django.utils import timezone, translation

from audit.models import AuditEvent
from communications.models import Message
from contactcenter.adjustments import (
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    adjustment_threshold,
)
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
from contactcenter.models import Adjustment, AdjustmentPolicy, Ticket, TicketComment
from contactcenter.services import ticket_open, ticket_transition
from crm.models import Consent
from loyalty.models import Account, LedgerEntry, Lot, Posting
from loyalty.services.ledger import Actor, Leg, customer_account, posting_create, programme_account
from tests.factories.crm import ConsentFactory, CustomerFactory
from tests.factories.loyalty import CurrencyFactory

pytestmark = pytest.mark.django_db


def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="contactcenter", codename__in=codenames)
    )
    # A fresh instance: the permission cache of the old one is stale.
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def currency(db):
    currency = CurrencyFactory()
    AdjustmentPolicy.objects.create(currency=currency, approval_threshold=Decimal("500"))
    return currency


@pytest.fixture
def customer(db):
    customer = CustomerFactory(first_name="Irina")
    ConsentFactory(customer=customer, channel=Consent.Channel.SMS)
    return customer


@pytest.fixture
def ticket(category, customer, operator):
    return ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject="Points missing",
        customer=customer,
        actor=operator,
        assignee=operator,
    )


@pytest.fixture
def supervisor(db, django_user_model):
    user = django_user_model.objects.create_user("boss", is_staff=True)
    return grant(user, "approve_adjustment", "use_console", "view_contacts")


def balance(customer, currency) -> Decimal:
    return Account.objects.get(customer=customer, currency=currency).balance


def earn(customer, currency, amount, *, expires_in_days=None):
    """Give the customer a lot of ``amount`` points (from the programme's main account)."""
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    posting_create(
        kind=Posting.Kind.EARN,
        cause=Posting.Cause.ADJUSTMENT,
        actor=Actor.system("test"),
        legs=[
            Leg(
                account=customer_account(customer, currency),
                amount=Decimal(amount),
                expires_at=expires_at,
            ),
            Leg(account=programme_account(currency), amount=-Decimal(amount)),
        ],
    )


def request(customer, currency, ticket, operator, amount, **kwargs):
    return adjustment_request(
        customer=customer,
        currency=currency,
        amount=Decimal(amount),
        reason=kwargs.pop("reason", "Receipt 123 was not counted"),
        ticket=ticket,
        user=operator,
        **kwargs,
    )


def test_threshold_comes_from_the_policy_else_the_setting(currency):
    other = CurrencyFactory(code="miles", is_default=False)
    assert adjustment_threshold(currency) == Decimal("500")
    with override_settings(ADJUSTMENT_APPROVAL_THRESHOLD="250"):
        assert adjustment_threshold(other) == Decimal("250")


def test_credit_within_the_threshold_is_posted_at_once(
    customer, currency, ticket, operator, assert_ledger_consistent
):
    # when: exactly the threshold
    adjustment = request(customer, currency, ticket, operator, "500")
    # then
    assert adjustment.status == Adjustment.Status.APPLIED
    assert balance(customer, currency) == Decimal("500")
    posting = adjustment.posting
    assert (posting.kind, posting.cause) == (Posting.Kind.ADJUST, Posting.Cause.ADJUSTMENT)
    assert posting.user == operator
    legs = {e.account.purpose: e.amount for e in posting.entries.select_related("account")}
    assert legs == {Account.Purpose.MAIN: Decimal("500"), Account.Purpose.ADJUSTMENTS: -500}
    assert Lot.objects.get(account__customer=customer).remaining == Decimal("500")
    assert_ledger_consistent()


def test_credit_above_the_threshold_waits_and_touches_no_ledger(
    customer, currency, ticket, operator
):
    # when
    adjustment = request(customer, currency, ticket, operator, "500.01")
    # then
    assert adjustment.status == Adjustment.Status.PENDING
    assert adjustment.posting is None
    assert not LedgerEntry.objects.filter(account__customer=customer).exists()
    assert not Message.objects.exists()


def test_supervisor_approval_posts_and_notifies(
    customer, currency, ticket, operator, supervisor, assert_ledger_consistent
):
    # given
    adjustment = request(customer, currency, ticket, operator, "1200")
    # when
    adjustment_approve(adjustment=adjustment, user=supervisor, note="checked the receipt")
    # then
    adjustment.refresh_from_db()
    assert adjustment.status == Adjustment.Status.APPLIED
    assert (adjustment.decided_by, adjustment.decision_note) == (supervisor, "checked the receipt")
    assert adjustment.posting.user == supervisor
    assert balance(customer, currency) == Decimal("1200")
    message = Message.objects.get(customer=customer)
    assert message.channel == Consent.Channel.SMS
    assert "1" in message.text
    assert "Receipt 123 was not counted" in message.text
    assert_ledger_consistent()


def test_approving_twice_posts_once(customer, currency, ticket, operator, supervisor):
    # given
    adjustment = request(customer, currency, ticket, operator, "900")
    adjustment_approve(adjustment=adjustment, user=supervisor)
    # when: a double click, with the stale instance
    stale = Adjustment.objects.get(pk=adjustment.pk)
    stale.status = Adjustment.Status.PENDING
    with pytest.raises(AdjustmentDecided):
        adjustment_approve(adjustment=stale, user=supervisor)
    # then
    assert Posting.objects.filter(cause_ref=f"adjustment:{adjustment.pk}").count() == 1
    assert balance(customer, currency) == Decimal("900")
    assert Message.objects.count() == 1


def test_a_supervisor_cannot_approve_their_own_request(customer, currency, category, supervisor):
    # given
    mine = ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject="x",
        customer=customer,
        actor=supervisor,
    )
    adjustment = request(customer, currency, mine, supervisor, "900")
    # when / then
    with pytest.raises(AdjustmentSelfApproval):
        adjustment_approve(adjustment=adjustment, user=supervisor)
    with pytest.raises(AdjustmentSelfApproval):
        adjustment_reject(adjustment=adjustment, user=supervisor, note="no")
    assert Adjustment.objects.get(pk=adjustment.pk).status == Adjustment.Status.PENDING


def test_an_operator_without_the_permission_cannot_approve(
    customer, currency, ticket, operator, django_user_model
):
    adjustment = request(customer, currency, ticket, operator, "900")
    colleague = django_user_model.objects.create_user("colleague", is_staff=True)
    with pytest.raises(AdjustmentNotAllowed):
        adjustment_approve(adjustment=adjustment, user=colleague)


def test_rejection_needs_a_note_and_posts_nothing(customer, currency, ticket, operator, supervisor):
    # given
    adjustment = request(customer, currency, ticket, operator, "900")
    with pytest.raises(DecisionNoteRequired):
        adjustment_reject(adjustment=adjustment, user=supervisor, note="  ")
    # when
    adjustment_reject(adjustment=adjustment, user=supervisor, note="no such receipt")
    # then
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decision_note) == (
        Adjustment.Status.REJECTED,
        "no such receipt",
    )
    assert adjustment.posting is None
    assert not Posting.objects.filter(cause=Posting.Cause.ADJUSTMENT, kind="adjust").exists()
    assert not Message.objects.exists()
    with pytest.raises(AdjustmentDecided):
        adjustment_approve(adjustment=adjustment, user=supervisor)


def test_debit_takes_the_first_expiring_lot_first(
    customer, currency, ticket, operator, assert_ledger_consistent
):
    # given: a lot expiring in 300 days, then one in 30
    earn(customer, currency, "100", expires_in_days=300)
    earn(customer, currency, "50", expires_in_days=30)
    # when
    adjustment = request(customer, currency, ticket, operator, "-70")
    # then
    assert adjustment.status == Adjustment.Status.APPLIED
    assert balance(customer, currency) == Decimal("80")
    remaining = sorted(Lot.objects.filter(account__customer=customer).values_list("remaining"))
    assert remaining == [(Decimal("0"),), (Decimal("80"),)]
    assert_ledger_consistent()


def test_debit_beyond_the_balance_is_refused_and_changes_nothing(
    customer, currency, ticket, operator
):
    # given
    earn(customer, currency, "40")
    before = (Posting.objects.count(), Adjustment.objects.count(), AuditEvent.objects.count())
    # when / then
    with pytest.raises(AdjustmentInsufficientPoints):
        request(customer, currency, ticket, operator, "-40.01")
    assert balance(customer, currency) == Decimal("40")
    after = (Posting.objects.count(), Adjustment.objects.count(), AuditEvent.objects.count())
    assert after == before


def test_debit_that_no_longer_fits_at_approval_stays_pending(
    customer, currency, ticket, operator, supervisor
):
    # given: a pending debit of 600 of a balance of 700, then 200 are debited at once
    earn(customer, currency, "700")
    adjustment = request(customer, currency, ticket, operator, "-600")
    request(customer, currency, ticket, operator, "-200")
    # when / then
    with pytest.raises(AdjustmentInsufficientPoints):
        adjustment_approve(adjustment=adjustment, user=supervisor)
    assert Adjustment.objects.get(pk=adjustment.pk).status == Adjustment.Status.PENDING
    assert balance(customer, currency) == Decimal("500")


def test_notification_can_be_switched_off(customer, currency, ticket, operator):
    # when
    request(customer, currency, ticket, operator, "10", notify=False)
    # then
    assert balance(customer, currency) == Decimal("10")
    assert not Message.objects.exists()


def test_notification_tells_amount_balance_and_reason_of_a_debit(
    customer, currency, ticket, operator
):
    # given
    earn(customer, currency, "100")
    # when
    request(customer, currency, ticket, operator, "-30", reason="Duplicate receipt")
    # then
    text = Message.objects.get(customer=customer).text
    assert "30" in text
    assert "70" in text
    assert "Duplicate receipt" in text


@pytest.mark.parametrize(
    ("amount", "reason", "error"),
    [
        ("10", "   ", AdjustmentReasonRequired),
        ("0", "why", AdjustmentAmountInvalid),
        ("0.001", "why", AdjustmentAmountInvalid),
    ],
)
def test_bad_requests_are_refused(customer, currency, ticket, operator, amount, reason, error):
    with pytest.raises(error):
        request(customer, currency, ticket, operator, amount, reason=reason)
    assert not Adjustment.objects.exists()


def test_the_ticket_must_be_the_customers_and_not_closed(
    customer, currency, ticket, operator, category
):
    stranger = CustomerFactory()
    theirs = ticket_open(
        channel=Ticket.Channel.CALL, category=category, subject="x", customer=stranger
    )
    with pytest.raises(AdjustmentTicketInvalid):
        request(customer, currency, theirs, operator, "10")
    ticket_transition(ticket, Ticket.Status.CLOSED, actor=operator)
    with pytest.raises(AdjustmentTicketInvalid):
        request(customer, currency, ticket, operator, "10")


def test_every_step_is_audited_and_noted_on_the_ticket(
    customer, currency, ticket, operator, supervisor
):
    # when
    adjustment = request(customer, currency, ticket, operator, "900")
    adjustment_approve(adjustment=adjustment, user=supervisor)
    # then
    events = AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(Adjustment), object_id=str(adjustment.pk)
    ).order_by("pk")
    assert [(e.action, e.user) for e in events] == [
        (AuditEvent.Action.ADJUST, operator),
        (AuditEvent.Action.APPROVE, supervisor),
    ]
    assert Decimal(events[0].after["amount"]) == Decimal("900")
    assert events[0].after["status"] == Adjustment.Status.PENDING
    notes = TicketComment.objects.filter(ticket=ticket, is_internal=True)
    assert notes.count() == 2
    assert Ticket.objects.get(pk=ticket.pk).first_responded_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_supervisors_approving_at_once_post_once(
    customer, currency, ticket, operator, supervisor, django_user_model
):
    # given
    other = grant(
        django_user_model.objects.create_user("boss2", is_staff=True), "approve_adjustment"
    )
    adjustment = request(customer, currency, ticket, operator, "900")
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            adjustment_approve(adjustment=Adjustment.objects.get(pk=adjustment.pk), user=user)
            outcomes.append("applied")
        except AdjustmentDecided:
            outcomes.append("decided")
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=approve, args=(u,)) for u in (supervisor, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert sorted(outcomes) == ["applied", "decided"]
    assert Posting.objects.filter(cause_ref=f"adjustment:{adjustment.pk}").count() == 1
    assert balance(customer, currency) == Decimal("900")


def test_notification_is_in_the_projects_language_not_the_operators(
    customer, currency, ticket, operator
):
    # given: a Russian-speaking programme, an operator browsing in English
    with override_settings(LANGUAGE_CODE="ru"), translation.override("en"):
        # when
        request(customer, currency, ticket, operator, "25", reason="Компенсация")
    # then
    text = Message.objects.get(customer=customer).text
    assert text.startswith("На ваш счёт начислено 25")
    assert "Компенсация" in text
