"""The contact centre's report: tickets by category, channel and status, SLA compliance with
working hours, each operator's workload; the page, its CSV and who may open it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from contactcenter import services
from contactcenter.models import Ticket
from loyalty.models import StaffProfile
from reports.services.contact_centre import centre_report
from tests.contactcenter.conftest import at
from tests.factories.contactcenter import TicketCategoryFactory
from tests.factories.loyalty import PartnerFactory

pytestmark = pytest.mark.django_db
Status = Ticket.Status


@pytest.fixture
def week(category, operator, django_user_model):
    """Monday 2 March 2026, 10:00 Moscow: four tickets, normal SLA 1 h answer / 8 h resolve."""
    colleague = django_user_model.objects.create_user("olga", first_name="Olga", is_staff=True)
    lost = TicketCategoryFactory(code="lost_card_test", name="Lost card")

    def opened(subject, channel="call", **kw):
        return services.ticket_open(
            channel=channel, category=kw.pop("cat", category), subject=subject, **kw
        )

    # answered in 30 min (met), resolved the same day (met)
    quick = opened("quick", at=at("2026-03-02", 10))
    services.ticket_assign(quick, operator)
    services.ticket_comment(quick, body="On it", author=operator, at=at("2026-03-02", 10, 30))
    services.ticket_transition(quick, Status.RESOLVED, actor=operator, at=at("2026-03-02", 12))
    # answered after 2 h (missed), resolved on Tuesday 12:00 (9 working hours: missed)
    slow = opened("slow", channel="email", at=at("2026-03-02", 10))
    services.ticket_assign(slow, operator)
    services.ticket_comment(slow, body="Sorry", author=operator, at=at("2026-03-02", 12))
    services.ticket_comment(
        slow, body="ask IT", author=operator, is_internal=True, at=at("2026-03-02", 12, 5)
    )
    services.ticket_transition(slow, Status.RESOLVED, actor=operator, at=at("2026-03-03", 12))
    # never answered, deadlines past at report time (missed both)
    opened("ignored", channel="app", at=at("2026-03-02", 11), assignee=colleague)
    # another category, under the default policy: never answered either
    opened("lost", cat=lost, at=at("2026-03-02", 11))
    # outside the period
    opened("last week", at=at("2026-02-25", 10))
    return operator, colleague


def test_the_report_counts_and_judges_the_tickets_of_the_period(week):
    operator, colleague = week
    report = centre_report(at("2026-03-02", 0), at("2026-03-09", 0), now=at("2026-03-06", 12))
    assert report.total == 4
    assert dict(report.by_category) == {"Missing points": 3, "Lost card": 1}
    assert dict(report.by_channel) == {"call": 2, "email": 1, "mobile app": 1}
    assert dict(report.by_status) == {"resolved": 2, "new": 2}
    lost, row = report.sla  # by category, then priority
    assert (lost.category, lost.tickets, lost.first_response.missed) == ("Lost card", 1, 1)
    assert (row.category, row.priority, row.tickets) == ("Missing points", "normal", 3)
    assert (row.first_response.met, row.first_response.missed) == (1, 2)
    assert (row.resolution.met, row.resolution.missed) == (1, 2)
    assert row.first_response.percent == Decimal("33.3")
    total = report.sla_total
    assert total.tickets == 4
    assert (total.first_response.met, total.first_response.missed) == (1, 3)
    assert total.first_response.percent == Decimal("25.0")
    workload = {op.operator: op for op in report.workload}
    mine = workload["operator"]
    assert (mine.assigned, mine.resolved, mine.open_now, mine.replies, mine.notes) == (
        2,
        2,
        0,
        2,
        1,
    )
    assert mine.missed == 2  # the slow ticket's two deadlines
    assert mine.first_response_minutes == Decimal("75.0")  # (30 + 120) / 2
    olga = workload["Olga"]
    assert (olga.assigned, olga.open_now, olga.missed, olga.first_response_minutes) == (
        1,
        1,
        2,
        None,
    )


def test_a_deadline_not_yet_due_is_running_and_waiting_stops_the_resolution_clock(category):
    ticket = services.ticket_open(
        channel="call", category=category, subject="x", at=at("2026-03-02", 10)
    )
    report = centre_report(at("2026-03-02", 0), at("2026-03-03", 0), now=at("2026-03-02", 10, 30))
    assert report.sla_total.first_response.running == 1
    assert report.sla_total.first_response.percent is None
    services.ticket_transition(ticket, Status.WAITING, at=at("2026-03-02", 10, 40))
    report = centre_report(at("2026-03-02", 0), at("2026-03-03", 0), now=at("2026-03-10", 10))
    assert report.sla_total.resolution.running == 1
    assert report.sla_total.resolution.missed == 0


@pytest.fixture
def supervisor_client(client, django_user_model):
    user = django_user_model.objects.create_user("sveta", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client.force_login(user)
    return client


def test_the_page_shows_the_report_and_downloads_it_as_csv(week, supervisor_client):
    url = reverse("reports:contact_centre")
    page = supervisor_client.get(url, {"since": "2026-03-02", "until": "2026-03-08"})
    assert page.status_code == 200
    assert page.context["report"].total == 4
    body = page.content.decode()
    assert "Missing points" in body
    assert 'id="workload"' in body
    download = supervisor_client.get(
        url, {"since": "2026-03-02", "until": "2026-03-08", "format": "csv"}
    )
    assert download["Content-Disposition"].endswith('contact-centre-20260302-20260308.csv"')
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert ["category", "Missing points", "3"] in rows
    assert any(row[:3] == ["operator", "2", "2"] for row in rows)


def test_a_reversed_period_is_refused_with_a_message(supervisor_client):
    page = supervisor_client.get(
        reverse("reports:contact_centre"), {"since": "2026-03-08", "until": "2026-03-02"}
    )
    assert page.status_code == 200
    assert page.context["report"] is None
    assert "The period ends before it starts." in page.content.decode()


def test_only_coalition_staff_with_ticket_rights_open_the_report(client, django_user_model):
    url = reverse("reports:contact_centre")
    plain = django_user_model.objects.create_user("plain", password="pw", is_staff=True)
    client.force_login(plain)
    assert client.get(url).status_code == 403
    partner_staff = django_user_model.objects.create_user("p", password="pw", is_staff=True)
    partner_staff.user_permissions.set(Permission.objects.all())
    StaffProfile.objects.create(user=partner_staff, partner=PartnerFactory())
    client.force_login(partner_staff)
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_the_report_sums_the_adjustments_asked_for_and_decided(
    category, operator, supervisor_client
):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from contactcenter.adjustments import adjustment_approve, adjustment_reject
    from contactcenter.models import AdjustmentPolicy
    from tests.contactcenter.test_adjustments import earn, grant, request
    from tests.factories.crm import CustomerFactory
    from tests.factories.loyalty import CurrencyFactory

    currency = CurrencyFactory()
    AdjustmentPolicy.objects.create(currency=currency, approval_threshold=Decimal("500"))
    customer = CustomerFactory()
    ticket = services.ticket_open(
        channel="call", category=category, subject="points", customer=customer, assignee=operator
    )
    operator = grant(operator, "use_console", "add_adjustment")
    boss = grant(
        get_user_model().objects.create_user("boss", first_name="Boss", is_staff=True),
        "approve_adjustment",
    )
    earn(customer, currency, "300")
    request(customer, currency, ticket, operator, "100")  # applied at once
    request(customer, currency, ticket, operator, "-40")  # applied at once
    big = request(customer, currency, ticket, operator, "900")  # waits, then approved
    adjustment_approve(adjustment=big, user=boss)
    refused = request(customer, currency, ticket, operator, "700")
    adjustment_reject(adjustment=refused, user=boss, note="no receipt")
    request(customer, currency, ticket, operator, "600")  # still waiting
    now = timezone.now()
    report = centre_report(now - timedelta(days=1), now + timedelta(days=1))
    [row] = report.adjustments
    assert (row.operator, row.currency) == ("operator", currency.code)
    assert (row.requested, row.applied, row.pending, row.rejected) == (5, 3, 1, 1)
    assert (row.credited, row.debited) == (Decimal("1000"), Decimal("40"))
    [decisions] = report.decisions
    assert (decisions.supervisor, decisions.approved, decisions.rejected) == ("Boss", 1, 1)
    page = supervisor_client.get(reverse("reports:contact_centre"))
    assert 'id="adjustments"' in page.content.decode()
