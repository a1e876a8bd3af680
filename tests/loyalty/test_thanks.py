"""Peer thanks (mechanics.md item 22) as a configuration of the general parts: a currency
"thanks to give" (given to colleagues as "thanks"), a monthly promotion that gives every
employee 1000 of them burning on the 10th of the next month, the staff page, and the monthly
table that opens after the 10th."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Segment, SegmentMember
from loyalty.errors import (
    ThanksBadAmount,
    ThanksNeedReason,
    ThanksNotEnough,
    ThanksNotGiven,
    ThanksToSelf,
)
from loyalty.models import Account, Currency, Lot, PeerThanks, Posting, StaffProfile
from loyalty.services.lots import lots_mature
from loyalty.services.thanks import thanks_give, thanks_left, thanks_table, thanks_table_opens
from promotions.lifecycle import lifecycle_day_run
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory
from tests.factories.promotions import promotion

pytestmark = pytest.mark.django_db
D = Decimal
ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)


class _World:
    pass


@pytest.fixture
def thanks():
    """The employee programme: two currencies, a segment of employees, the monthly top-up."""
    world = _World()
    world.give = CurrencyFactory(code="thanks_to_give", name="Thanks to give", rub_rate=0)
    world.programme = world.give.programme
    world.received = Currency.objects.create(
        programme=world.programme, code="thanks", name="Thanks", rub_rate=0
    )
    world.give.given_as = world.received
    world.give.save()
    world.currency = world.give
    employees = Segment.objects.create(programme=world.programme, code="staff", name="Staff")
    world.people = []
    for n in range(3):
        person = CustomerFactory(
            first_name=f"Emp{n}", registered_at=timezone.now() - timedelta(days=400)
        )
        SegmentMember.objects.create(segment=employees, customer=person)
        user = get_user_model().objects.create_user(f"emp{n}", is_staff=True)
        StaffProfile.objects.create(user=user, customer=person)
        world.people.append(person)
    outsider = CustomerFactory(registered_at=timezone.now() - timedelta(days=400))
    world.outsider = outsider
    world.allowance = promotion(
        world,
        "Monthly thanks to give",
        trigger="monthly",
        trigger_day=1,
        rewards=[
            {
                "kind": "points_fixed",
                "value": 1000,
                "currency": world.give,
                "expires_day_of_next_month": 10,
            }
        ],
    )
    world.allowance.segments.set([employees])
    from promotions.rules.snapshot import snapshot_invalidate

    snapshot_invalidate()
    return world


def first_of_this_month() -> date:
    return timezone.localdate().replace(day=1)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZONE)


def next_month(day: date, on: int) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, on)


def test_22_peer_thanks(thanks, assert_ledger_consistent):
    anna, boris, vera = thanks.people
    first = first_of_this_month()
    # The 1st of the month: every employee gets 1000 to give, the outsider nothing; twice: once.
    assert lifecycle_day_run(first) == 3
    assert lifecycle_day_run(first) == 0
    for person in thanks.people:
        assert thanks_left(person, thanks.give) == D("1000.00")
        lot = Lot.objects.get(account__customer=person)
        assert lot.expires_at == end_of(next_month(first, 10))
    assert thanks_left(thanks.outsider, thanks.give) == D("0")

    gift = thanks_give(
        giver=anna, receiver=boris, currency=thanks.give, amount=D("300"), reason="the release"
    )
    assert gift.posting.cause == Posting.Cause.THANKS
    with pytest.raises(ThanksToSelf):
        thanks_give(giver=anna, receiver=anna, currency=thanks.give, amount=D("1"), reason="me")
    with pytest.raises(ThanksNeedReason):
        thanks_give(giver=anna, receiver=boris, currency=thanks.give, amount=D("1"), reason=" ")
    with pytest.raises(ThanksNotEnough):
        thanks_give(giver=anna, receiver=vera, currency=thanks.give, amount=D("800"), reason="x")
    with pytest.raises(ThanksBadAmount):
        thanks_give(giver=anna, receiver=vera, currency=thanks.give, amount=D("0.001"), reason="x")
    with pytest.raises(ThanksNotGiven):
        thanks_give(giver=anna, receiver=vera, currency=thanks.received, amount=D("1"), reason="x")
    thanks_give(giver=anna, receiver=vera, currency=thanks.give, amount=D("700"), reason="help")
    thanks_give(giver=boris, receiver=vera, currency=thanks.give, amount=D("50"), reason="cake")
    assert thanks_left(anna, thanks.give) == D("0")
    received = {}
    for person in (boris, vera):
        received[person.first_name] = Account.objects.get(
            customer=person, currency=thanks.received
        ).balance
    assert received == {"Emp1": D("300.00"), "Emp2": D("750.00")}

    # After the 10th of the next month the rest burns (the expiry job), what was received stays.
    lots_mature(now=end_of(next_month(first, 10)) + timedelta(minutes=1))
    assert thanks_left(boris, thanks.give, now=end_of(next_month(first, 11))) == D("0")
    boris_give = Account.objects.get(customer=boris, currency=thanks.give)
    assert boris_give.balance == D("0.00")  # 1000 - 50 given - 950 burnt
    assert Account.objects.get(customer=vera, currency=thanks.received).balance == D("750.00")

    table = thanks_table(thanks.give, first.year, first.month)
    assert [(row.receiver.first_name, row.total, row.gifts) for row in table] == [
        ("Emp2", D("750.00"), 2),
        ("Emp1", D("300.00"), 1),
    ]
    assert thanks_table_opens(first.year, first.month) == next_month(first, 11)
    assert PeerThanks.objects.count() == 3
    assert_ledger_consistent()


def test_the_staff_page_gives_thanks_and_shows_the_table_after_the_10th(thanks, client):
    anna, boris, _vera = thanks.people
    lifecycle_day_run(first_of_this_month())
    client.force_login(get_user_model().objects.get(username="emp0"))
    page = client.get("/staff/thanks/")
    assert page.status_code == 200
    assert "1000.00" in page.content.decode()
    response = client.post(
        "/staff/thanks/",
        {"receiver": boris.pk, "amount": "120", "reason": "fixed the printer"},
    )
    assert response.status_code == 302
    assert thanks_left(anna, thanks.give) == D("880.00")
    refused = client.post("/staff/thanks/", {"receiver": boris.pk, "amount": "1", "reason": ""})
    assert refused.status_code == 200
    assert PeerThanks.objects.count() == 1
    too_much = client.post(
        "/staff/thanks/", {"receiver": boris.pk, "amount": "5000", "reason": "everything"}
    )
    assert too_much.status_code == 200
    assert "fewer thanks left" in too_much.content.decode()
    # Nobody can pick themselves: the form does not offer them.
    self_pick = client.post("/staff/thanks/", {"receiver": anna.pk, "amount": "1", "reason": "x"})
    assert self_pick.status_code == 200
    assert PeerThanks.objects.count() == 1
    this_month = first_of_this_month().strftime("%Y-%m")
    closed = client.get(f"/staff/thanks/?month={this_month}")
    assert "thanks-table" not in closed.content.decode()  # it opens after the 10th


def test_the_table_of_a_past_month_is_visible_to_everyone(thanks, client):
    anna, boris, _vera = thanks.people
    past = (first_of_this_month() - timedelta(days=40)).replace(day=1)
    lifecycle_day_run(first_of_this_month())
    gift = thanks_give(
        giver=anna, receiver=boris, currency=thanks.give, amount=D("10"), reason="old times"
    )
    # As if given in that month (its allowance has long burnt: a past day gives none now).
    gift_time = datetime.combine(past + timedelta(days=3), time(12), tzinfo=ZONE)
    PeerThanks.objects.filter(pk=gift.pk).update(given_at=gift_time)
    client.force_login(get_user_model().objects.get(username="emp2"))
    page = client.get(f"/staff/thanks/?month={past:%Y-%m}").content.decode()
    assert "thanks-table" in page
    assert boris.first_name in page


def test_a_staff_user_without_membership_is_told_so(thanks, client):
    client.force_login(get_user_model().objects.create_user("nomember", is_staff=True))
    page = client.get("/staff/thanks/")
    assert page.status_code == 200
    assert "not linked" in page.content.decode()
    assert client.post("/staff/thanks/", {"amount": "1"}).status_code == 200
    assert PeerThanks.objects.count() == 0


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/staff/thanks/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
