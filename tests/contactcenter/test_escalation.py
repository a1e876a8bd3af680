"""The escalation job: tickets about to breach (or past) a deadline are escalated once per
deadline, however often the job runs, and the queue's supervisor is told."""

from __future__ import annotations

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask

from contactcenter import services
from contactcenter.models import Priority, Ticket, TicketEscalation, TicketEvent
from contactcenter.tasks import tickets_escalate_task
from tests.contactcenter.conftest import at

pytestmark = pytest.mark.django_db
Status = Ticket.Status


@pytest.fixture
def ticket(category):
    # first response due Monday 11:00, resolution Monday 18:00
    return services.ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject="Card not activated",
        at=at("2026-03-02", 10),
    )


def escalate(now, margin=30):
    return services.tickets_escalate(now=now, margin_minutes=margin)


def test_a_deadline_within_the_margin_is_escalated_once(
    ticket, queue, django_capture_on_commit_callbacks
):
    # when the job runs at 10:40, 20 minutes before the first-response deadline
    with django_capture_on_commit_callbacks(execute=True):
        assert escalate(at("2026-03-02", 10, 40)) == 1
    # then the ticket is escalated: level 1, priority one step up, deadlines unchanged
    ticket.refresh_from_db()
    assert (ticket.escalation_level, ticket.priority) == (1, Priority.HIGH)
    assert ticket.escalated_at == at("2026-03-02", 10, 40)
    assert ticket.first_response_due == at("2026-03-02", 11)
    escalation = ticket.escalations.get()
    assert escalation.deadline_kind == TicketEscalation.Deadline.FIRST_RESPONSE
    assert not escalation.is_breached
    assert ticket.events.filter(kind=TicketEvent.Kind.ESCALATED).count() == 1
    # and the supervisor and the queue's mailbox are told
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"supervisor@shop.example", "cards@shop.example"}
    assert ticket.number in mail.outbox[0].subject
    # when the job runs again, before and after the deadline
    with django_capture_on_commit_callbacks(execute=True):
        assert escalate(at("2026-03-02", 10, 45)) == 0
        assert escalate(at("2026-03-02", 11, 30)) == 0
    # then nothing more happens for that deadline
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1
    assert len(mail.outbox) == 1


def test_each_deadline_is_escalated_on_its_own(ticket):
    escalate(at("2026-03-02", 11, 5))
    # the resolution deadline (18:00) comes within the margin later
    assert escalate(at("2026-03-02", 17, 0)) == 0
    assert escalate(at("2026-03-02", 17, 31)) == 1
    ticket.refresh_from_db()
    assert (ticket.escalation_level, ticket.priority) == (2, Priority.URGENT)
    kinds = sorted(ticket.escalations.values_list("deadline_kind", "is_breached"))
    assert kinds == [("first_response", True), ("resolution", False)]
    # urgent is the ceiling
    services.ticket_transition(ticket, Status.RESOLVED, at=at("2026-03-02", 17, 40))
    services.ticket_transition(ticket, Status.REOPENED, at=at("2026-03-03", 10))
    assert escalate(at("2026-03-04", 12)) == 1  # the new resolution deadline
    ticket.refresh_from_db()
    assert (ticket.escalation_level, ticket.priority) == (3, Priority.URGENT)


def test_answered_waiting_and_closed_tickets_are_not_escalated(category, operator):
    answered, waiting, closed = (
        services.ticket_open(channel="call", category=category, subject=s, at=at("2026-03-02", 10))
        for s in ("a", "b", "c")
    )
    services.ticket_comment(answered, body="On it", author=operator, at=at("2026-03-02", 10, 5))
    services.ticket_transition(waiting, Status.WAITING, at=at("2026-03-02", 10, 5))
    services.ticket_transition(closed, Status.CLOSED, at=at("2026-03-02", 10, 5))
    assert escalate(at("2026-03-02", 12)) == 0
    assert not TicketEscalation.objects.exists()


def test_the_task_runs_the_job_and_is_scheduled(ticket, settings, celery_eager):
    settings.TICKETS_ESCALATION_MARGIN_MINUTES = 10_000_000
    assert tickets_escalate_task.delay().get() == 2
    assert tickets_escalate_task.delay().get() == 0
    task = PeriodicTask.objects.get(task="contactcenter.tickets_escalate")
    assert task.enabled
    assert task.interval.every == 5
