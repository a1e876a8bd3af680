"""``POST /api/v1/tickets``: the app and website open tickets with a terminal's key; every
error is a problem document and writes nothing."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from contactcenter.models import Ticket
from loyalty.services.terminals import terminal_key_issue
from processing.api.throttles import TerminalRateThrottle
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, ReceiptFactory, TerminalFactory
from tests.processing.api.conftest import assert_problem

pytestmark = pytest.mark.django_db
URL = "/api/v1/tickets"


@pytest.fixture(autouse=True)
def _fresh_throttles(monkeypatch):
    monkeypatch.setattr(
        TerminalRateThrottle,
        "cache_format",
        f"api-throttle-test-{uuid.uuid4().hex}:%(scope)s:%(ident)s",
    )


@pytest.fixture
def terminal(category):
    return TerminalFactory(code="WEBSITE")


@pytest.fixture
def client(terminal) -> APIClient:
    _key, raw = terminal_key_issue(terminal=terminal)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return api


@pytest.fixture
def card():
    return ActiveCardFactory()


def body(card=None, **overrides) -> dict:
    data = {
        "request_id": "web-0001",
        "channel": "web",
        "category": "missing_points_test",
        "subject": "No points for my purchase",
        "body": "I bought milk yesterday and got no points.",
        "customer": {"card": card.number} if card else {"email": "guest@mail.example"},
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def test_a_ticket_is_opened_for_the_card_holder(client, card, terminal):
    response = client.post(URL, body(card), format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    ticket = Ticket.objects.get()
    assert answer["number"] == ticket.number
    assert answer["status"] == "new"
    assert answer["customer"] == card.customer.public_id
    assert answer["first_response_due"] is not None
    assert answer["resolution_due"] is not None
    assert (ticket.customer, ticket.card, ticket.channel, ticket.terminal) == (
        card.customer,
        card,
        Ticket.Channel.WEB,
        terminal,
    )


def test_a_retry_gets_the_same_ticket_and_another_body_is_a_conflict(client, card):
    first = client.post(URL, body(card), format="json")
    again = client.post(URL, body(card), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Ticket.objects.count() == 1
    assert_problem(
        client.post(URL, body(card, subject="Other"), format="json"), 409, "ticket_conflict"
    )
    # without a request id every call opens a ticket
    client.post(URL, body(card, request_id=...), format="json")
    client.post(URL, body(card, request_id=...), format="json")
    assert Ticket.objects.count() == 3


def test_the_customer_is_found_by_phone_and_the_receipt_linked(client):
    customer = CustomerFactory(phone="+79001234567")
    receipt = ReceiptFactory(customer=customer, receipt_id="R-777")
    response = client.post(
        URL, body(customer={"phone": "8 900 123-45-67"}, receipt_id="R-777"), format="json"
    )
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.receipt) == (customer, receipt)


def test_an_unknown_phone_is_kept_as_the_contact(client):
    response = client.post(
        URL, body(customer={"phone": "+79009998877", "email": "a@b.example"}), format="json"
    )
    assert response.status_code == 201
    assert response.json()["customer"] is None
    ticket = Ticket.objects.get()
    assert (ticket.contact_phone, ticket.contact_email) == ("+79009998877", "a@b.example")


def test_an_unknown_card_is_404_and_writes_nothing(client):
    assert_problem(
        client.post(URL, body(customer={"card": "0000000000000"}), format="json"),
        404,
        "card_not_found",
    )
    assert not Ticket.objects.exists()


def test_an_unknown_receipt_is_404(client, card):
    assert_problem(
        client.post(URL, body(card, receipt_id="NOPE"), format="json"), 404, "receipt_not_found"
    )
    assert not Ticket.objects.exists()


def test_an_unknown_category_is_422(client, card):
    assert_problem(
        client.post(URL, body(card, category="nope"), format="json"), 422, "category_unknown"
    )


def test_malformed_json_and_an_empty_body_are_400(client):
    response = client.post(URL, b'{"subject": ', content_type="application/json")
    assert_problem(response, 400, "malformed_json")
    assert_problem(client.post(URL, b"", content_type="application/json"), 400, "empty_body")


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"subject": ...}, "subject"),
        ({"body": ...}, "body"),
        ({"category": ...}, "category"),
        ({"channel": "call"}, "channel"),
        ({"customer": ...}, "customer"),
        ({"customer": {}}, "customer"),
        ({"customer": {"phone": "not a phone"}}, "customer.phone"),
        ({"customer": {"email": "nope"}}, "customer.email"),
        ({"subject": "x" * 301}, "subject"),
        ({"subject": 1.5}, "subject"),
    ],
)
def test_missing_or_invalid_fields_are_named(client, overrides, path):
    problem = assert_problem(
        client.post(URL, body(**overrides), format="json"), 400, "invalid_request"
    )
    assert path in problem["errors"], problem
    assert not Ticket.objects.exists()


def test_a_key_is_required(card):
    assert_problem(APIClient().post(URL, body(card), format="json"), 401, "invalid_api_key")


def test_a_racing_duplicate_gets_the_winners_ticket(client, card, terminal, monkeypatch):
    # given another copy of the request opens its ticket between our lookup and our insert
    from contactcenter import services

    data = body(card)
    lookup = services.category_get_active

    def other_copy_wins(code):
        category = lookup(code)
        services.ticket_open(
            channel=data["channel"],
            category=category,
            subject=data["subject"],
            body=data["body"],
            terminal=terminal,
            request_id=data["request_id"],
            request_fingerprint=services._fingerprint(
                channel=data["channel"],
                category=code,
                subject=data["subject"],
                body=data["body"],
                card=card.number,
                phone=None,
                email=None,
                receipt_id=None,
            ),
        )
        return category

    monkeypatch.setattr(services, "category_get_active", other_copy_wins)
    # when ours is inserted
    response = client.post(URL, data, format="json")
    # then it answers the winner's ticket, and there is one
    assert response.status_code == 200, response.content
    assert response.json()["number"] == Ticket.objects.get().number
