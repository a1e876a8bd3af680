"""POST /api/v1/events: idempotent by event_id per terminal, and every bad input a problem
that changes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.models import Card, CustomerEvent, EventType, LedgerEntry
from tests.factories.promotions import promotion
from tests.processing.api.conftest import API, assert_problem

pytestmark = pytest.mark.django_db(transaction=False)
URL = API + "events"


@pytest.fixture
def joined(world):
    kind = EventType.objects.create(code="joined_group", name="Joined the group")
    promotion(
        world,
        "+25 for joining",
        trigger="event",
        event_type=kind,
        rewards=[{"kind": "points_fixed", "value": 25}],
    )
    return kind


def body(world, **overrides) -> dict:
    data = {
        "customer": {"card": world.card.number},
        "type": "joined_group",
        "event_id": "ev-1",
        "attributes": {"group": "runners"},
    }
    data.update(overrides)
    return data


def test_an_event_is_recorded_once_and_rewarded_once(
    client, world, joined, assert_ledger_consistent
):
    first = client.post(URL, body(world), format="json")
    assert first.status_code == 201, first.content
    answer = first.json()
    assert answer["status"] == "accepted"
    assert answer["customer"]["id"] == world.customer.public_id
    assert answer["rewards"] == [
        {
            "promotion": answer["rewards"][0]["promotion"],
            "name": "+25 for joining",
            "points": [{"currency": world.currency.code, "amount": "25.00", "to": "customer"}],
        }
    ]
    again = client.post(URL, body(world), format="json")
    assert again.status_code == 200
    assert again.json() == answer
    assert CustomerEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(account__customer=world.customer).count() == 1
    other = client.post(URL, body(world, event_id="ev-2"), format="json")
    assert other.status_code == 201
    assert LedgerEntry.objects.filter(account__customer=world.customer).count() == 2
    assert_ledger_consistent()


def test_by_phone_with_a_time_and_no_promotion(client, world):
    EventType.objects.create(code="workout", name="Workout")
    moment = (timezone.now() - timedelta(hours=2)).isoformat()
    response = client.post(
        URL,
        {
            "customer": {"phone": "8 " + world.customer.phone[2:]},
            "type": "workout",
            "event_id": "w-1",
            "occurred_at": moment,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["rewards"] == []
    event = CustomerEvent.objects.get()
    assert event.customer == world.customer
    assert event.attributes == {}


def test_the_same_id_with_another_body_is_a_conflict(client, world, joined):
    client.post(URL, body(world), format="json")
    response = client.post(URL, body(world, attributes={"group": "swimmers"}), format="json")
    assert_problem(response, 409, "event_conflict")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"type": "unknown_type"}, 422, "unknown_event_type"),
        ({"type": "Bad Type!"}, 400, "invalid_request"),
        ({"customer": {"card": "0000"}}, 404, "card_not_found"),
        ({"customer": {"phone": "+79990000000"}}, 404, "customer_not_found"),
        ({"customer": {}}, 400, "invalid_request"),
        ({"customer": {"card": "1", "phone": "+79990000000"}}, 400, "invalid_request"),
        ({"event_id": ""}, 400, "invalid_request"),
        ({"event_id": "x" * 65}, 400, "invalid_request"),
        ({"event_id": 1.5}, 400, "invalid_request"),
        ({"attributes": ["not", "a", "dict"]}, 400, "invalid_request"),
        ({"attributes": {"blob": "x" * 9000}}, 400, "invalid_request"),
        ({"occurred_at": "2026-01-01T10:00:00"}, 400, "invalid_request"),
        ({"occurred_at": "2099-01-01T10:00:00+03:00"}, 422, "datetime_out_of_window"),
        ({"occurred_at": "2001-01-01T10:00:00+03:00"}, 422, "datetime_out_of_window"),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(client, world, joined, change, status, code):
    response = client.post(URL, body(world, **change), format="json")
    assert_problem(response, status, code)
    assert CustomerEvent.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


def test_an_inactive_type_a_blocked_card_and_malformed_json(client, world, joined):
    EventType.objects.filter(pk=joined.pk).update(is_active=False)
    assert_problem(client.post(URL, body(world), format="json"), 422, "unknown_event_type")
    EventType.objects.filter(pk=joined.pk).update(is_active=True)
    Card.objects.filter(pk=world.card.pk).update(
        status=Card.Status.BLOCKED, blocked_at=timezone.now()
    )
    assert_problem(client.post(URL, body(world), format="json"), 409, "card_blocked")
    response = client.post(URL, data="{not json", content_type="application/json")
    assert_problem(response, 400, "malformed_json")
    assert_problem(client.post(URL, data="", content_type="application/json"), 400, "empty_body")
    assert CustomerEvent.objects.count() == 0


def test_no_key_no_event(anonymous_client, world, joined):
    assert anonymous_client.post(URL, body(world), format="json").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_event_are_recorded_once(
    client, world, joined, assert_ledger_consistent
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    answers = []

    def send():
        try:
            answers.append(client.post(URL, body(world), format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 200, 200, 201]
    assert CustomerEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(account__customer=world.customer).count() == 1
    assert_ledger_consistent()
