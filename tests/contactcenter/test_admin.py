"""The ticket admin: deadlines shown and overdue highlighted, the overdue list, opening a
ticket, comments, status moves and the bulk actions, all through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contactcenter import services
from contactcenter.models import Ticket, TicketComment

pytestmark = pytest.mark.django_db
INLINES = ("comments", "attachments", "escalations", "events")


def open_ticket(category, hours_ago: float = 0, subject="Card not activated") -> Ticket:
    return services.ticket_open(
        channel=Ticket.Channel.CALL,
        category=category,
        subject=subject,
        at=timezone.now() - timedelta(hours=hours_ago),
    )


def form_data(ticket: Ticket, **overrides) -> dict:
    data = {
        "channel": ticket.channel,
        "category": ticket.category_id,
        "priority": ticket.priority,
        "subject": ticket.subject,
        "body": ticket.body,
        "contact_email": ticket.contact_email,
        "contact_phone": ticket.contact_phone,
        "queue": ticket.queue_id or "",
    }
    for prefix in INLINES:
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


def test_the_list_highlights_overdue_tickets_and_lists_them(admin_client, category):
    # given a ticket opened a week ago (overdue whatever the day) and one opened just now
    late = open_ticket(category, hours_ago=24 * 7, subject="Late one")
    fresh = open_ticket(category, subject="Fresh one")
    url = reverse("admin:contactcenter_ticket_changelist")
    page = admin_client.get(url).content.decode()
    assert "Late one" in page
    assert "Fresh one" in page
    assert "color:#ba2121" in page
    # the overdue list holds only the late one
    overdue = admin_client.get(url, {"sla": "overdue"}).content.decode()
    assert late.subject in overdue
    assert fresh.subject not in overdue
    # and the search finds a ticket by its number
    found = admin_client.get(url, {"q": fresh.number}).content.decode()
    assert fresh.subject in found
    assert late.subject not in found


def test_a_ticket_opened_in_the_admin_gets_its_deadlines(admin_client, category):
    data = form_data(
        Ticket(channel="call", category=category, priority="normal", subject="By phone")
    )
    response = admin_client.post(reverse("admin:contactcenter_ticket_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    ticket = Ticket.objects.get()
    assert ticket.number == f"{ticket.pk:06d}"
    assert ticket.resolution_due is not None
    assert ticket.events.filter(kind="opened").exists()


def test_the_change_page_comments_and_moves_the_ticket(admin_client, admin_user, category):
    ticket = open_ticket(category)
    url = reverse("admin:contactcenter_ticket_change", args=[ticket.pk])
    page = admin_client.get(url).content.decode()
    assert "first response due" in page.lower()
    data = form_data(
        ticket,
        move_to="waiting",
        note="asked for the receipt photo",
        **{
            "comments-TOTAL_FORMS": "1",
            "comments-0-body": "Please send a photo of the receipt.",
            "comments-0-is_internal": "",
        },
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.WAITING
    assert ticket.first_responded_at is not None
    comment = ticket.comments.get()
    assert (comment.author, comment.author_kind) == (admin_user, TicketComment.Author.STAFF)
    assert ticket.events.filter(
        kind="status", to_status="waiting", note="asked for the receipt photo"
    ).exists()
    # a move the workflow does not allow is not offered
    page = admin_client.get(url).content.decode()
    assert 'value="reopened"' not in page


def test_the_actions_assign_resolve_and_close(admin_client, admin_user, category):
    first, second = open_ticket(category, subject="A"), open_ticket(category, subject="B")
    url = reverse("admin:contactcenter_ticket_changelist")
    ids = [first.pk, second.pk]
    admin_client.post(url, {"action": "assign_to_me", "_selected_action": ids})
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {admin_user.pk}
    admin_client.post(url, {"action": "mark_closed", "_selected_action": [first.pk]})
    response = admin_client.post(
        url, {"action": "mark_resolved", "_selected_action": ids}, follow=True
    )
    statuses = dict(Ticket.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "closed", second.pk: "resolved"}
    assert f"#{first.number}" in response.content.decode()
