"""The conditions on the communication history (registered by communications): messages
received, opened and clicked, consents withdrawn. Their edges by hand; the randomized check
against a Python reading is test_oracle_communications.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from communications.models import Message
from crm.errors import RuleParamsInvalid
from crm.models import Consent
from crm.segments.compile import rule_members
from crm.segments.registry import kinds
from crm.segments.rules import rule_clean
from crm.services.customers import consent_set
from promotions.models import Promotion
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ProgrammeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def programme():
    return ProgrammeFactory()


def found(programme, now, condition: dict, *, negated: bool = False) -> set[int]:
    rule = rule_clean(
        {"op": "and", "not": negated, "items": [condition]}, programme_id=programme.pk
    )
    return set(rule_members(rule, programme_id=programme.pk, now=now).values_list("pk", flat=True))


def message(customer, now, *, days_ago=1, channel="sms", status="sent", promotion=None, **extra):
    sent = now - timedelta(days=days_ago) if status == "sent" else None
    return Message.objects.create(
        customer=customer,
        channel=channel,
        address="+70000000000",
        text="Hello",
        status=status,
        promotion=promotion,
        created_at=now - timedelta(days=days_ago),
        sent_at=extra.pop("sent_at", sent),
        **extra,
    )


def test_communications_registers_its_kinds():
    codes = {kind.code for kind in kinds() if kind.app_label == "communications"}
    assert codes == {"messages_received", "messages_opened", "messages_clicked", "unsubscribed"}


def test_received_counts_messages_sent_not_queued_or_failed(programme, now):
    sent, queued, failed, nothing = CustomerFactory.create_batch(4)
    message(sent, now)
    message(queued, now, status="queued")
    message(failed, now, status="failed")

    received = {"kind": "messages_received"}
    assert found(programme, now, received) == {sent.pk}
    # NOT is exactly the rest, customers without any message included
    assert found(programme, now, received, negated=True) == {queued.pk, failed.pk, nothing.pk}


def test_received_within_the_window_by_the_moment_sent(programme, now):
    recent, old, unmarked = CustomerFactory.create_batch(3)
    message(recent, now, days_ago=5)
    message(old, now, days_ago=40)
    message(unmarked, now, sent_at=None)  # sent, the gateway gave no time

    last_30 = {"kind": "messages_received", "window": {"last_days": 30}}
    assert found(programme, now, last_30) == {recent.pk}
    assert found(programme, now, last_30, negated=True) >= {old.pk, unmarked.pk}
    assert found(programme, now, {"kind": "messages_received"}) == {recent.pk, old.pk, unmarked.pk}


def test_received_by_channel_and_promotion(programme, now):
    birthday = Promotion.objects.create(programme=programme, name="Birthday")
    other = Promotion.objects.create(programme=programme, name="Other")
    by_sms, by_email, from_birthday, from_other = CustomerFactory.create_batch(4)
    message(by_sms, now, channel="sms")
    message(by_email, now, channel="email")
    message(from_birthday, now, channel="email", promotion=birthday)
    message(from_other, now, channel="sms", promotion=other)

    by_channel = {"kind": "messages_received", "channels": ["sms"]}
    assert found(programme, now, by_channel) == {by_sms.pk, from_other.pk}
    by_promotion = {"kind": "messages_received", "promotions": [birthday.pk]}
    assert found(programme, now, by_promotion) == {from_birthday.pk}
    both = {"kind": "messages_received", "promotions": [other.pk], "channels": ["email"]}
    assert found(programme, now, both) == set()


def test_received_at_least_a_number_of_messages(programme, now):
    one, three = CustomerFactory.create_batch(2)
    message(one, now)
    for days in (1, 2, 3):
        message(three, now, days_ago=days)
    message(three, now, days_ago=60)  # outside the window below

    assert found(programme, now, {"kind": "messages_received", "min": 2}) == {three.pk}
    week = {"kind": "messages_received", "min": 3, "window": {"last_days": 7}}
    assert found(programme, now, week) == {three.pk}
    assert found(programme, now, {**week, "min": 4}) == set()
    assert one.pk in found(programme, now, {**week, "min": 4}, negated=True)


def test_opened_and_clicked_by_their_own_moments(programme, now):
    opened, clicked, neither = CustomerFactory.create_batch(3)
    message(opened, now, days_ago=20, opened_at=now - timedelta(days=2))
    message(
        clicked,
        now,
        days_ago=20,
        opened_at=now - timedelta(days=19),
        clicked_at=now - timedelta(days=19),
    )
    message(neither, now, days_ago=1)

    assert found(programme, now, {"kind": "messages_opened"}) == {opened.pk, clicked.pk}
    week = {"window": {"last_days": 7}}
    assert found(programme, now, {"kind": "messages_opened", **week}) == {opened.pk}
    assert found(programme, now, {"kind": "messages_clicked"}) == {clicked.pk}
    assert found(programme, now, {"kind": "messages_clicked", **week}) == set()
    assert found(programme, now, {"kind": "messages_clicked"}, negated=True) == {
        opened.pk,
        neither.pk,
    }


def test_unsubscribed_is_a_consent_withdrawn_and_not_given_again(programme, now):
    withdrew, again, never, other_channel = CustomerFactory.create_batch(4)
    for customer in (withdrew, again, other_channel):
        consent_set(customer=customer, channel="sms", is_granted=True, at=now - timedelta(days=100))
    consent_set(customer=withdrew, channel="sms", is_granted=False, at=now - timedelta(days=3))
    consent_set(customer=again, channel="sms", is_granted=False, at=now - timedelta(days=50))
    consent_set(customer=again, channel="sms", is_granted=True, at=now - timedelta(days=2))
    Consent.objects.create(customer=never, channel="sms", is_granted=False)  # never given
    consent_set(
        customer=other_channel, channel="email", is_granted=True, at=now - timedelta(days=100)
    )
    consent_set(
        customer=other_channel, channel="email", is_granted=False, at=now - timedelta(days=40)
    )

    assert found(programme, now, {"kind": "unsubscribed"}) == {withdrew.pk, other_channel.pk}
    sms = {"kind": "unsubscribed", "channels": ["sms"]}
    assert found(programme, now, sms) == {withdrew.pk}
    month = {"kind": "unsubscribed", "window": {"last_days": 30}}
    assert found(programme, now, month) == {withdrew.pk}
    assert found(programme, now, month, negated=True) == {again.pk, never.pk, other_channel.pk}


def test_bad_parameters_are_refused_by_name(programme):
    elsewhere = Promotion.objects.create(programme=ProgrammeFactory(code="elsewhere"), name="x")
    bad = [
        ({"kind": "messages_received", "channels": ["call"]}, "channels"),
        ({"kind": "messages_received", "channels": ["pigeon"]}, "channels"),
        ({"kind": "messages_opened", "min": 0}, "min"),
        ({"kind": "messages_clicked", "promotions": [elsewhere.pk]}, "promotions"),
        ({"kind": "messages_received", "window": {"last_days": 0}}, "window"),
        ({"kind": "unsubscribed", "channels": []}, "channels"),
        ({"kind": "unsubscribed", "promotions": [1]}, "promotions"),
    ]
    for condition, param in bad:
        with pytest.raises(RuleParamsInvalid) as caught:
            rule_clean({"op": "and", "items": [condition]}, programme_id=programme.pk)
        assert caught.value.param == param, condition


def test_the_canonical_form_keeps_what_was_given(programme):
    clean = rule_clean(
        {
            "op": "and",
            "items": [
                {"kind": "messages_received", "channels": ["sms", "email", "sms"], "min": 2},
                {"kind": "unsubscribed", "window": {"from": "2026-01-01"}},
            ],
        },
        programme_id=programme.pk,
    )
    assert clean["items"] == [
        {"kind": "messages_received", "not": False, "channels": ["sms", "email"], "min": 2},
        {"kind": "unsubscribed", "not": False, "window": {"from": "2026-01-01"}},
    ]
