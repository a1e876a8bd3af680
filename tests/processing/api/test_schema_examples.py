"""Every operation of the schema has request examples (processing/api/examples.py); each is valid
by the schema, and the server accepts each against a coalition that has what they name."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft7Validator

from contactcenter.models import TicketCategory
from loyalty.models import EventType
from processing.api import examples
from tests.factories.loyalty import ActiveCardFactory, CardFactory
from tests.processing.api.conftest import API, sold_at
from tests.processing.api.test_schema import openapi as openapi  # noqa: F401 - the fixture
from tests.processing.api.test_schema_strict import _json_schema, request_errors

pytestmark = pytest.mark.django_db


def _operations(openapi):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_operation_has_request_examples(openapi):
    for path, method, operation in _operations(openapi):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body.get("examples"), f"{method.upper()} {path}: no body example"
        for parameter in operation.get("parameters", []):
            if parameter.get("required"):
                assert parameter.get("examples"), f"{method.upper()} {path}: {parameter['name']}"
        assert body is not None or operation.get("parameters"), f"{method.upper()} {path}"


def test_every_example_is_valid_by_the_schema(openapi):
    for path, method, operation in _operations(openapi):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        for name, example in (body or {}).get("examples", {}).items():
            errors = request_errors(openapi, path, example["value"])
            assert not errors, f"{method.upper()} {path} example {name}: {errors}"
        for parameter in operation.get("parameters", []):
            validator = Draft7Validator(_json_schema(parameter["schema"]))
            for name, example in parameter.get("examples", {}).items():
                errors = [e.message for e in validator.iter_errors(example["value"])]
                assert not errors, f"{method.upper()} {path} {parameter['name']} {name}: {errors}"


@pytest.fixture
def example_world(world):
    """The world with what the examples name: their card and phone, event type, category."""
    world.customer.phone = examples.PHONE
    world.customer.save()
    ActiveCardFactory(number=examples.CARD, customer=world.customer, programme=world.programme)
    CardFactory(number="2700000000024", programme=world.programme)
    EventType.objects.create(code="joined_group", name="Joined a group")
    TicketCategory.objects.get_or_create(code="missing_points", defaults={"name": "Missing points"})
    return world


def _recent(value):
    """The example with its times of sale moved into the offline window."""
    if value == examples.SOLD_AT:
        return sold_at()
    if isinstance(value, dict):
        return {key: _recent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_recent(item) for item in value]
    return value


def _body(group, index: int = 0) -> dict:
    return _recent(copy.deepcopy(group[index].value))


def test_the_server_accepts_every_example(client, example_world):
    """In the order a register would send them; a code the world has no coupon or certificate
    for is the only thing answered as not found."""

    def post(url, body, expected=200):
        response = client.post(API + url, body, format="json")
        assert response.status_code == expected, (url, response.content[:500])
        return response.json()

    def get(url, expected=200):
        response = client.get(API + url)
        assert response.status_code == expected, (url, response.content[:500])
        return response.json()

    for index in range(len(examples.PURCHASE_CALCULATE)):
        post("purchases/calculate", _body(examples.PURCHASE_CALCULATE, index))
    for index in range(len(examples.PURCHASE_CONFIRM)):
        assert post("purchases/confirm", _body(examples.PURCHASE_CONFIRM, index))["status"] == (
            "confirmed"
        )
    assert get(f"purchases/{examples.RECEIPT_ID}")["status"] == "confirmed"
    for index in range(len(examples.PURCHASE_REFUND)):
        post("purchases/refund", _body(examples.PURCHASE_REFUND, index))
    post("purchases/cancel", _body(examples.PURCHASE_CANCEL))
    results = post("purchases/offline", _body(examples.PURCHASES_OFFLINE))["results"]
    assert [item["status"] for item in results] == ["ok", "ok"]
    assert get(f"cards/{examples.CARD}")["customer"]["id"] == example_world.customer.public_id
    for example in examples.CUSTOMER_LOOKUP:
        response = client.get(API + "customers/lookup", {"phone": example.value})
        assert response.status_code == 200, response.content
    for index in range(len(examples.CUSTOMER_REGISTER)):
        post("customers", _body(examples.CUSTOMER_REGISTER, index), expected=201)
    for index in range(len(examples.EVENT_REPORT)):
        post("events", _body(examples.EVENT_REPORT, index), expected=201)
    post("tickets", _body(examples.TICKET_SUBMIT), expected=201)
    assert get(f"coupons/{examples.COUPON}", 404)["code"] == "coupon_not_found"
    assert get(f"certificates/{examples.CERTIFICATE}", 404)["code"] == "certificate_not_found"
    response = client.post(API + f"certificates/{examples.CERTIFICATE}/activate")
    assert response.status_code == 404
