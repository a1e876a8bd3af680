"""The ticket workflow: opening with deadlines, every transition allowed or refused, comments,
the resolution clock paused while waiting for the customer, reopening and reclassifying."""

from __future__ import annotations

import itertools

import pytest
from django.core import mail

from contactcenter import services
from contactcenter.errors import CategoryUnknown, CommentEmpty, TransitionForbidden
from contactcenter.models import Priority, Ticket, TicketComment, TicketEvent
from tests.contactcenter.conftest import at
from tests.factories.contactcenter import TicketCategoryFactory
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, ReceiptFactory

pytestmark = pytest.mark.django_db
Status = Ticket.Status


def open_ticket(category, when=None, **kwargs) -> Ticket:
    kwargs.setdefault("channel", Ticket.Channel.CALL)
    kwargs.setdefault("subject", "Points for receipt 42 are missing")
    return services.ticket_open(category=category, at=when or at("2026-03-02", 10), **kwargs)


# --- Opening --------------------------------------------------------------------------------


def test_open_sets_number_queue_and_deadlines(category, queue):
    # given a category with 1 h / 8 h in office hours
    # when a ticket is opened on Monday at 10:00
    ticket = open_ticket(category)
    # then it is new, numbered, in the category's queue, with its deadlines
    assert ticket.status == Status.NEW
    assert ticket.number == f"{ticket.pk:06d}"
    assert ticket.queue == queue
    assert ticket.first_response_due == at("2026-03-02", 11)
    assert ticket.resolution_due == at("2026-03-02", 18)
    assert list(ticket.events.values_list("kind", flat=True)) == [TicketEvent.Kind.OPENED]


def test_open_on_friday_evening_counts_from_monday_morning(category):
    ticket = open_ticket(category, when=at("2026-03-06", 17, 30))
    assert ticket.first_response_due == at("2026-03-09", 9, 30)
    assert ticket.resolution_due == at("2026-03-09", 16, 30)


def test_a_category_without_its_own_policy_uses_the_fallback(calendar):
    # given a category with no policy: the defaults of migration 0002 apply (high: 60 / 540)
    other = TicketCategoryFactory(code="other_test")
    ticket = open_ticket(other, priority=Priority.HIGH)
    assert ticket.sla_policy.category is None
    assert ticket.first_response_due == at("2026-03-02", 11)
    assert ticket.resolution_due == at("2026-03-03", 10)


def test_the_customer_comes_from_the_card_or_the_receipt(category):
    card = ActiveCardFactory()
    by_card = open_ticket(category, card=card)
    assert by_card.customer == card.customer
    assert by_card.contact_email == card.customer.email
    receipt = ReceiptFactory(customer=card.customer, card=card)
    by_receipt = open_ticket(category, receipt=receipt)
    assert (by_receipt.customer, by_receipt.card) == (card.customer, card)


def test_an_inactive_category_is_refused(category):
    category.is_active = False
    category.save()
    with pytest.raises(CategoryUnknown):
        open_ticket(category)
    assert not Ticket.objects.exists()


def test_the_default_categories_exist():
    from contactcenter.models import TicketCategory

    codes = set(TicketCategory.objects.values_list("code", flat=True))
    assert {
        "card_activation",
        "balance",
        "lost_card",
        "missing_points",
        "complaint",
        "consultation",
    } <= codes


# --- Transitions ----------------------------------------------------------------------------


def _in_status(category, status: str) -> Ticket:
    ticket = open_ticket(category)
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    ticket.refresh_from_db()
    return ticket


ALLOWED = {
    (Status.NEW, Status.IN_PROGRESS),
    (Status.NEW, Status.WAITING),
    (Status.NEW, Status.RESOLVED),
    (Status.NEW, Status.CLOSED),
    (Status.IN_PROGRESS, Status.WAITING),
    (Status.IN_PROGRESS, Status.RESOLVED),
    (Status.IN_PROGRESS, Status.CLOSED),
    (Status.WAITING, Status.IN_PROGRESS),
    (Status.WAITING, Status.RESOLVED),
    (Status.WAITING, Status.CLOSED),
    (Status.RESOLVED, Status.CLOSED),
    (Status.RESOLVED, Status.REOPENED),
    (Status.REOPENED, Status.IN_PROGRESS),
    (Status.REOPENED, Status.WAITING),
    (Status.REOPENED, Status.RESOLVED),
    (Status.REOPENED, Status.CLOSED),
}
PAIRS = list(itertools.product(Status.values, Status.values))


def test_the_table_is_the_documented_workflow():
    table = {(a, b) for a, targets in services.ALLOWED_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_an_allowed_transition_moves_and_is_recorded(category, operator, from_status, to_status):
    ticket = _in_status(category, from_status)
    services.ticket_transition(ticket, to_status, actor=operator, at=at("2026-03-02", 12))
    ticket.refresh_from_db()
    assert ticket.status == to_status
    event = ticket.events.get(kind=TicketEvent.Kind.STATUS)
    assert (event.from_status, event.to_status, event.actor) == (from_status, to_status, operator)


@pytest.mark.parametrize(
    ("from_status", "to_status"), sorted(pair for pair in PAIRS if pair not in ALLOWED)
)
def test_a_forbidden_transition_is_refused_and_changes_nothing(category, from_status, to_status):
    ticket = _in_status(category, from_status)
    with pytest.raises(TransitionForbidden) as refused:
        services.ticket_transition(ticket, to_status)
    assert refused.value.code == "transition_forbidden"
    assert str(Status(from_status).label) in str(refused.value.detail)
    ticket.refresh_from_db()
    assert ticket.status == from_status
    assert not ticket.events.filter(kind=TicketEvent.Kind.STATUS).exists()


def test_resolving_and_closing_stamp_their_times(category):
    ticket = open_ticket(category)
    services.ticket_transition(ticket, Status.RESOLVED, at=at("2026-03-02", 15))
    assert ticket.resolved_at == at("2026-03-02", 15)
    services.ticket_transition(ticket, Status.CLOSED, at=at("2026-03-03", 9))
    assert (ticket.resolved_at, ticket.closed_at) == (at("2026-03-02", 15), at("2026-03-03", 9))


# --- The resolution clock -------------------------------------------------------------------


def test_waiting_for_the_customer_pauses_the_resolution_clock(category):
    # given a ticket opened Monday 10:00, due Monday 18:00
    ticket = open_ticket(category)
    # when it waits for the customer from Monday 12:00 to Tuesday 12:00 (9 working hours)
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-02", 12))
    assert ticket.paused_at == at("2026-03-02", 12)
    assert not ticket.is_overdue(now=at("2026-03-02", 19))  # paused: not overdue
    services.ticket_transition(ticket, Status.IN_PROGRESS, at=at("2026-03-03", 12))
    # then the 6 working hours left at the pause run from Tuesday 12:00
    assert ticket.paused_at is None
    assert ticket.paused_seconds == 9 * 3600
    assert ticket.resolution_due == at("2026-03-03", 18)
    # and the first-response deadline did not move
    assert ticket.first_response_due == at("2026-03-02", 11)


def test_waiting_over_a_weekend_counts_only_working_time(category):
    ticket = open_ticket(category, when=at("2026-03-06", 10))  # Friday, due Friday 18:00
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-06", 17))
    services.ticket_transition(ticket, Status.IN_PROGRESS, at=at("2026-03-09", 9, 30))
    # waited: 1 h on Friday + 30 min on Monday; 1 h was left: due Monday 10:30
    assert ticket.paused_seconds == 90 * 60
    assert ticket.resolution_due == at("2026-03-09", 10, 30)


def test_waiting_twice_adds_both_pauses(category):
    ticket = open_ticket(category)
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-02", 11))
    services.ticket_transition(ticket, Status.IN_PROGRESS, at=at("2026-03-02", 12))
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-02", 13))
    services.ticket_transition(ticket, Status.RESOLVED, at=at("2026-03-02", 15))
    assert ticket.paused_seconds == 3 * 3600
    assert ticket.resolution_due == at("2026-03-03", 12)


def test_waiting_after_the_deadline_does_not_undo_the_breach(category):
    ticket = open_ticket(category)  # due Monday 18:00
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-03", 10))
    services.ticket_transition(ticket, Status.IN_PROGRESS, at=at("2026-03-03", 12))
    assert ticket.paused_seconds == 0
    assert ticket.resolution_due == at("2026-03-02", 18)
    assert ticket.is_overdue(now=at("2026-03-03", 12, 1))


def test_reopening_starts_a_fresh_resolution_clock(category):
    ticket = open_ticket(category)
    services.ticket_transition(ticket, Status.RESOLVED, at=at("2026-03-02", 12))
    services.ticket_transition(ticket, Status.REOPENED, at=at("2026-03-04", 14))
    assert ticket.resolved_at is None
    assert ticket.resolution_due == at("2026-03-05", 13)


def test_overdue_tickets_are_listed(category):
    late = open_ticket(category)  # first answer due 11:00, resolution 18:00
    answered = open_ticket(category)
    services.ticket_comment(answered, body="Looking into it", at=at("2026-03-02", 10, 30))
    waiting = open_ticket(category)
    services.ticket_transition(waiting, Status.WAITING, at=at("2026-03-02", 10, 30))
    now = at("2026-03-02", 12)
    assert list(services.tickets_overdue(now)) == [late]
    assert late.is_overdue(now)
    assert not answered.is_overdue(now)
    assert not waiting.is_overdue(now)
    assert answered.is_overdue(at("2026-03-02", 18, 1))


def test_reclassifying_recomputes_the_deadlines(category, operator):
    ticket = open_ticket(category)
    services.ticket_reclassify(ticket, priority=Priority.URGENT, actor=operator)
    assert ticket.first_response_due == at("2026-03-02", 10, 15)
    assert ticket.resolution_due == at("2026-03-02", 12)
    assert ticket.events.filter(kind=TicketEvent.Kind.RECLASSIFIED).exists()


# --- Comments and assignment ----------------------------------------------------------------


def test_the_first_public_staff_reply_is_the_first_response(
    category, operator, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="anna@mail.example")
    ticket = open_ticket(category, customer=customer)
    # an internal note is not a response
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_comment(ticket, body="Check the receipt", author=operator, is_internal=True)
    assert ticket.first_responded_at is None
    assert ticket.status == Status.NEW
    assert mail.outbox == []
    # the first public reply is, and goes to the customer
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_comment(
            ticket, body="We are on it", author=operator, at=at("2026-03-02", 10, 20)
        )
    assert ticket.first_responded_at == at("2026-03-02", 10, 20)
    assert ticket.status == Status.IN_PROGRESS
    assert [m.to for m in mail.outbox] == [["anna@mail.example"]]
    assert mail.outbox[0].subject == f"[#{ticket.number}] {ticket.subject}"
    # a later reply does not move it
    services.ticket_comment(ticket, body="Done", author=operator, at=at("2026-03-02", 11, 20))
    assert ticket.first_responded_at == at("2026-03-02", 10, 20)


def test_a_customer_reply_brings_the_ticket_back(category):
    ticket = open_ticket(category)
    services.ticket_transition(ticket, Status.WAITING)
    services.ticket_comment(
        ticket, body="Here is the photo", author_kind=TicketComment.Author.CUSTOMER
    )
    assert ticket.status == Status.IN_PROGRESS
    services.ticket_transition(ticket, Status.RESOLVED)
    services.ticket_comment(
        ticket, body="Still no points", author_kind=TicketComment.Author.CUSTOMER
    )
    assert ticket.status == Status.REOPENED
    services.ticket_transition(ticket, Status.CLOSED)
    with pytest.raises(TransitionForbidden):
        services.ticket_comment(ticket, body="Hello?", author_kind=TicketComment.Author.CUSTOMER)
    assert ticket.comments.count() == 2


def test_an_empty_comment_is_refused(category):
    ticket = open_ticket(category)
    with pytest.raises(CommentEmpty):
        services.ticket_comment(ticket, body="  ")


def test_assigning_records_who_and_where(category, operator, queue):
    ticket = open_ticket(category)
    services.ticket_assign(ticket, operator, actor=operator)
    ticket.refresh_from_db()
    assert ticket.assignee == operator
    assert ticket.events.filter(kind=TicketEvent.Kind.ASSIGNED, actor=operator).exists()
