"""A customer merge carries the CRM records and the other per-customer rows to the kept customer.

Per model (the docstring of ``customers_merge`` and docs/operations.md say why): consents keep
the latest decision per channel, answers keep the kept customer's, family, cars and dates move
without duplicates, segments are united, events, coupons and messages move, favourites go.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from communications.models import Message
from crm.models import (
    Car,
    Consent,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    Segment,
    SegmentMember,
)
from loyalty.models import CustomerEvent, EventType, FavouriteProduct, StaffProfile
from loyalty.services.card_operations import customers_merge
from promotions.models import Coupon, CouponSeries
from tests.factories.crm import (
    ConsentFactory,
    CustomerFactory,
    FamilyMemberFactory,
    ProfileQuestionFactory,
)
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return coalition(percent="5")


def test_consents_keep_the_latest_decision_per_channel(world):
    # given
    keep, gone = world.customer, CustomerFactory()
    now = timezone.now()
    # sms: keep granted a year ago, gone withdrew yesterday -> withdrawn
    ConsentFactory(customer=keep, channel="sms", granted_at=now - timedelta(days=365))
    ConsentFactory(
        customer=gone,
        channel="sms",
        is_granted=False,
        granted_at=now - timedelta(days=30),
        revoked_at=now - timedelta(days=1),
        source="app",
    )
    # email: keep withdrew yesterday, gone granted a month ago -> withdrawn (keep's)
    ConsentFactory(
        customer=keep,
        channel="email",
        is_granted=False,
        granted_at=None,
        revoked_at=now - timedelta(days=1),
    )
    ConsentFactory(customer=gone, channel="email", granted_at=now - timedelta(days=30))
    # push: only gone decided -> moves
    ConsentFactory(customer=gone, channel="push", granted_at=now - timedelta(days=3))
    # when
    customers_merge(keep=keep, gone=gone)
    # then
    consents = {c.channel: c for c in Consent.objects.filter(customer=keep)}
    assert {channel: c.is_granted for channel, c in consents.items()} == {
        "sms": False,
        "email": False,
        "push": True,
    }
    assert consents["sms"].source == "app"
    assert consents["sms"].revoked_at == now - timedelta(days=1)
    assert not Consent.objects.filter(customer=gone).exists()


def test_answers_family_cars_dates_and_segments_follow_the_kept_customer(world):
    # given
    keep, gone = world.customer, CustomerFactory()
    both, only_gone = ProfileQuestionFactory(), ProfileQuestionFactory()
    ProfileAnswer.objects.create(customer=keep, question=both, value_text="keep's")
    ProfileAnswer.objects.create(customer=gone, question=both, value_text="gone's")
    ProfileAnswer.objects.create(customer=gone, question=only_gone, value_text="only gone's")
    FamilyMemberFactory(customer=keep, name="Masha", birth_date=date(2018, 5, 1))
    FamilyMemberFactory(customer=gone, name="Masha", birth_date=date(2018, 5, 1))
    FamilyMemberFactory(customer=gone, name="Petya", birth_date=date(2020, 1, 2))
    Car.objects.create(customer=gone, make="Lada", plate="A123BC")
    MemorableDate.objects.create(customer=gone, kind="wedding", date=date(2015, 6, 20))
    common = Segment.objects.create(programme=world.programme, code="vip", name="VIP")
    theirs = Segment.objects.create(programme=world.programme, code="new", name="New")
    SegmentMember.objects.create(segment=common, customer=keep)
    SegmentMember.objects.create(segment=common, customer=gone)
    SegmentMember.objects.create(segment=theirs, customer=gone)
    # when
    customers_merge(keep=keep, gone=gone)
    # then
    answers = dict(
        ProfileAnswer.objects.filter(customer=keep).values_list("question_id", "value_text")
    )
    assert answers == {both.pk: "keep's", only_gone.pk: "only gone's"}
    assert sorted(FamilyMember.objects.filter(customer=keep).values_list("name", flat=True)) == [
        "Masha",
        "Petya",
    ]
    assert Car.objects.get().customer == keep
    assert MemorableDate.objects.get().customer == keep
    assert set(SegmentMember.objects.filter(customer=keep).values_list("segment", flat=True)) == {
        common.pk,
        theirs.pk,
    }
    for model in (ProfileAnswer, FamilyMember, Car, MemorableDate, SegmentMember):
        assert not model.objects.filter(customer=gone).exists(), model


def test_keep_takes_the_names_birth_date_and_contacts_it_lacks(world):
    # given
    keep = world.customer
    Customer.objects.filter(pk=keep.pk).update(first_name="", phone=None, birth_date=None)
    gone = CustomerFactory(first_name="Olga", birth_date=date(1990, 3, 8), phone_verified=True)
    phone = gone.phone
    # when
    customers_merge(keep=keep, gone=gone)
    # then
    keep.refresh_from_db()
    assert (keep.first_name, keep.birth_date, keep.phone, keep.phone_verified) == (
        "Olga",
        date(1990, 3, 8),
        phone,
        True,
    )


def test_events_coupons_messages_and_staff_membership_move_favourites_go(world):
    # given
    keep, gone = world.customer, CustomerFactory()
    kind = EventType.objects.create(code="joined_group", name="Joined")
    CustomerEvent.objects.create(
        terminal=world.terminal,
        partner=world.partner,
        event_id="E1",
        type=kind,
        customer=gone,
        occurred_at=timezone.now(),
    )
    series = CouponSeries.objects.create(programme=world.programme, code="S", name="S")
    Coupon.objects.create(series=series, code="GONE-1", customer=gone, valid_from=timezone.now())
    Message.objects.create(customer=gone, channel="sms", address="+79000000000", text="Hi")
    FavouriteProduct.objects.create(
        customer=gone,
        programme=world.programme,
        product=ProductFactory(),
        rank=1,
        spend="10.00",
        computed_at=timezone.now(),
    )
    staff = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    StaffProfile.objects.create(user=staff, customer=gone)
    # when
    customers_merge(keep=keep, gone=gone)
    # then
    assert CustomerEvent.objects.get().customer == keep
    assert Coupon.objects.get().customer == keep
    assert Message.objects.get().customer == keep
    assert not FavouriteProduct.objects.exists()
    assert StaffProfile.objects.get().customer == keep
