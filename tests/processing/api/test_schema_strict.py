"""The OpenAPI schema is no looser than the server: what the schema admits, the server accepts.

An outside review generated a client from /api/schema/ and found the schema admitting values
the server refuses: ``""`` and ``"-1"`` for quantities and prices, blank SKUs, cards and
phones, any consent key, an empty offline upload. Each is now refused by both; the patterns
the schema gives are checked against the server's own fields with generated values; and the
schema's description names a guide that exists.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from rest_framework import serializers

from processing.api import serializers as s
from processing.api.schema import BLANK_TEXT_PATTERN, TEXT_PATTERN
from tests.processing.api.conftest import API, assert_problem, purchase_body
from tests.processing.api.test_schema import openapi as openapi  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _json_schema(node):
    """OpenAPI 3.0 -> JSON Schema: ``nullable`` as a null type (objects stay open, as the
    server ignores unknown fields)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def request_errors(openapi: dict, path: str, body) -> list[str]:
    """What the schema of ``POST path``'s body finds wrong with ``body`` (empty: valid)."""
    operation = openapi["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    root = {
        **_json_schema(schema),
        "components": {"schemas": _json_schema(openapi["components"]["schemas"])},
    }
    return [error.message for error in Draft7Validator(root).iter_errors(body)]


def query_errors(openapi: dict, path: str, name: str, value: str) -> list[str]:
    (parameter,) = [p for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == name]
    return [e.message for e in Draft7Validator(parameter["schema"]).iter_errors(value)]


def _set(body: dict, place: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, last = place.split(".")
    node = body
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def _event(world) -> dict:
    return {"customer": {"card": world.card.number}, "type": "joined_group", "event_id": "e-1"}


def _ticket(world) -> dict:
    return {
        "channel": "app",
        "category": "missing_points",
        "subject": "No points",
        "body": "For receipt 42",
        "customer": {"card": world.card.number},
    }


def _register(world) -> dict:
    return {"phone": "+79001112233", "first_name": "Anna"}


def _refund(world) -> dict:
    return {"receipt_id": "R-1", "refund_id": "RF-1", "lines": [{"line": 1, "quantity": "1"}]}


def _certificate(world) -> dict:
    return purchase_body(world, certificates=[{"code": "GIFT-1", "amount": "100.00"}])


# (url, body, place, value): the review's cases and their neighbours.
LOOSE = [
    ("purchases/calculate", purchase_body, "lines.0.quantity", ""),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "-1"),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "0"),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "0.000"),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "1.2345"),
    ("purchases/calculate", purchase_body, "lines.0.price", ""),
    ("purchases/calculate", purchase_body, "lines.0.price", "-1"),
    ("purchases/calculate", purchase_body, "lines.0.price", "1.234"),
    ("purchases/calculate", purchase_body, "lines.0.price", "."),
    ("purchases/calculate", purchase_body, "lines.0.sku", ""),
    ("purchases/calculate", purchase_body, "lines.0.sku", "   "),
    ("purchases/calculate", purchase_body, "receipt_id", " "),
    ("purchases/calculate", purchase_body, "coupons", [""]),
    ("purchases/confirm", purchase_body, "lines.1.quantity", "-1"),
    ("purchases/confirm", _certificate, "certificates.0.amount", "-1"),
    ("purchases/confirm", _certificate, "certificates.0.code", ""),
    ("purchases/refund", _refund, "lines.0.quantity", "-1"),
    ("purchases/refund", _refund, "lines.0.quantity", ""),
    ("events", _event, "customer.card", ""),
    ("events", _event, "customer", {"phone": ""}),
    ("customers", _register, "phone", ""),
    ("customers", _register, "first_name", "  "),
    ("customers", _register, "consents", {"fax": True}),
    ("customers", _register, "consents", {"sms": True, "carrier_pigeon": False}),
    ("tickets", _ticket, "customer.card", ""),
    ("tickets", _ticket, "subject", " "),
]


@pytest.mark.parametrize(
    ("url", "make", "place", "value"), LOOSE, ids=[f"{u}:{p}={v!r}" for u, _m, p, v in LOOSE]
)
def test_what_the_review_found_loose_is_refused_by_the_schema_and_the_server(
    openapi, client, world, row_counts, url, make, place, value
):
    valid = make(world)
    assert not request_errors(openapi, f"/api/v1/{url}", valid)
    body = _set(valid, place, value)
    assert request_errors(openapi, f"/api/v1/{url}", body), "the schema admits it"
    before = row_counts()
    assert_problem(client.post(API + url, body, format="json"), 400, "invalid_request")
    assert row_counts() == before


def test_an_empty_offline_upload_is_refused_by_both(openapi, client):
    assert request_errors(openapi, "/api/v1/purchases/offline", {"receipts": []})
    response = client.post(API + "purchases/offline", {"receipts": []}, format="json")
    assert_problem(response, 400, "invalid_request")


def test_a_blank_phone_to_look_up_is_refused_by_both(openapi, client):
    assert query_errors(openapi, "/api/v1/customers/lookup", "phone", "")
    assert query_errors(openapi, "/api/v1/customers/lookup", "phone", "   ")
    response = client.get(API + "customers/lookup", {"phone": "   "})
    assert_problem(response, 400, "invalid_request")


# (url, body, place, value): what the server accepts, and so must the schema.
ACCEPTED = [
    ("purchases/calculate", purchase_body, "card", ""),  # an anonymous receipt
    ("purchases/calculate", purchase_body, "card", None),
    ("purchases/calculate", purchase_body, "phone", ""),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "0.001"),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "0.5"),
    ("purchases/calculate", purchase_body, "lines.0.quantity", "12"),
    ("purchases/calculate", purchase_body, "lines.0.price", "0"),
    ("purchases/calculate", purchase_body, "lines.0.price", "0.05"),
    ("purchases/calculate", purchase_body, "spend_points", "max"),
    ("customers", _register, "consents", {"sms": True, "email": False, "push": True}),
    ("customers", _register, "last_name", ""),
    ("customers", _register, "card", ""),
]


@pytest.mark.parametrize(
    ("url", "make", "place", "value"),
    ACCEPTED,
    ids=[f"{u}:{p}={v!r}" for u, _m, p, v in ACCEPTED],
)
def test_what_the_server_accepts_the_schema_admits(openapi, client, world, url, make, place, value):
    body = _set(make(world), place, value)
    assert not request_errors(openapi, f"/api/v1/{url}", body)
    response = client.post(API + url, body, format="json")
    assert response.status_code in (200, 201), response.content


# --- The schema's patterns against the server's fields ---------------------------------------


def _component(openapi, name: str, *path: str) -> dict:
    node = openapi["components"]["schemas"][name]
    for step in path:
        node = node[step]
    return node


def _accepts(field: serializers.Field, value) -> bool:
    try:
        field.run_validation(value)
    except serializers.ValidationError:
        return False
    return True


QUANTITY = s.quantity_field()
MONEY = s.money_field()


@pytest.mark.parametrize(
    ("schema_path", "field"),
    [
        (("PurchaseLine", "properties", "quantity"), QUANTITY),
        (("RefundLine", "properties", "quantity"), QUANTITY),
        (("PurchaseLine", "properties", "price"), MONEY),
        (("CertificatePayment", "properties", "amount"), MONEY),
    ],
    ids=["quantity", "refund-quantity", "price", "certificate-amount"],
)
def test_every_decimal_the_schema_admits_the_server_accepts(openapi, schema_path, field):
    pattern = _component(openapi, *schema_path)["pattern"]

    @given(st.from_regex(pattern, fullmatch=True))
    @hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None)
    def check(value):
        assert _accepts(field, value), value

    check()
    for refused in ("", "-1", "-0.5", ".5", "1.", "01", "1e3", " 1"):
        assert not re.search(pattern, refused), refused
    if field is QUANTITY:
        assert not re.search(pattern, "0")
        assert not re.search(pattern, "0.000")
        assert re.search(pattern, "999999999999.999")
        assert _accepts(field, "999999999999.999")
    else:
        assert re.search(pattern, "0")
        assert re.search(pattern, "999999999999.99")
        assert field.run_validation("999999999999.99") == Decimal("999999999999.99")


@pytest.mark.parametrize(
    ("pattern", "field"),
    [
        (TEXT_PATTERN, s.StringField(max_length=64)),
        (TEXT_PATTERN, s.id_field()),
        (BLANK_TEXT_PATTERN, s.StringField(max_length=64, allow_blank=True)),
    ],
    ids=["text", "id", "blank-text"],
)
def test_every_text_the_schema_admits_the_server_accepts(pattern, field):
    @given(st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= 64))
    @hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None)
    def check(value):
        assert _accepts(field, value), ascii(value)

    check()
    for refused in ("a\x00", "\x00"):
        assert not re.search(pattern, refused)
        assert not _accepts(field, refused)
    if pattern == TEXT_PATTERN:
        for refused in ("", " ", "\t\n", "\u3000"):
            assert not re.search(pattern, refused)
            assert not _accepts(field, refused)


def test_every_text_field_of_every_request_has_its_pattern(openapi):
    """No string in a request body or query is left without what the server checks."""
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            constrained = {"pattern", "format", "enum"} & set(node) or node.get("maxLength") == 0
            if node.get("type") == "string" and not constrained:
                missing.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}.{index}")

    requests = set()
    for path in openapi["paths"].values():
        for operation in path.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                requests.add(media["schema"]["$ref"].rsplit("/", 1)[-1])
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    walk(parameter["schema"], parameter["name"])
    seen = set()
    while requests:
        name = requests.pop()
        seen.add(name)
        component = openapi["components"]["schemas"][name]
        walk(component, name)
        for ref in re.findall(r"#/components/schemas/(\w+)", str(component)):
            if ref not in seen:
                requests.add(ref)
    # Response components share none of these; the request ones are checked whole.
    assert not missing, missing


# --- The description's guide -----------------------------------------------------------------


def test_the_schema_description_points_to_a_guide_that_exists(openapi):
    description = openapi["info"]["description"]
    guides = re.findall(r"`(docs/[\w./-]+\.md)`", description)
    assert guides == ["docs/pos-integration.md"]
    guide = Path(settings.BASE_DIR) / guides[0]
    assert guide.is_file()
    headings = re.findall(r"^## (\d+)\. (.+)$", guide.read_text(), flags=re.MULTILINE)
    sections = dict(headings)
    for number in re.findall(r"section (\d+)", description):
        assert number in sections, f"section {number} is not in {guides[0]}"
    assert "pos-api.md" not in description  # not in the repository
