"""The OpenAPI schema: served, valid, browsable without a CDN, and true to what the API answers."""

from __future__ import annotations

import copy
import re

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft7Validator

from tests.processing.api.conftest import API, purchase_body

pytestmark = pytest.mark.django_db

# Members a problem may carry beyond the standard ones (RFC 9457 extensions) are allowed; every
# other object in an answer must be fully documented.
OPEN_SCHEMAS = {"Problem"}


def test_the_schema_is_served_without_a_key(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    paths = set(schema["paths"])
    assert paths == {
        "/api/v1/purchases/calculate",
        "/api/v1/purchases/confirm",
        "/api/v1/purchases/cancel",
        "/api/v1/purchases/refund",
        "/api/v1/purchases/offline",
        "/api/v1/purchases/{receipt_id}",
        "/api/v1/cards/{number}",
        "/api/v1/customers/lookup",
        "/api/v1/customers",
        "/api/v1/events",
        "/api/v1/coupons/{code}",
        "/api/v1/certificates/{code}",
        "/api/v1/certificates/{code}/activate",
        "/api/v1/tickets",
    }
    for path in schema["paths"].values():
        for operation in path.values():
            assert operation["security"] == [{"ApiKeyAuth": []}]
            problem_statuses = {
                status
                for status, response in operation["responses"].items()
                if "application/problem+json" in response.get("content", {})
            }
            assert {"401", "403", "429", "503"} <= problem_statuses


def test_the_docs_page_serves_swagger_ui_from_local_static_files(anonymous_client):
    response = anonymous_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert not re.search(r"https?://(cdn|unpkg|fastly)\.", html)


def test_the_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert (tmp_path / "schema.yaml").stat().st_size > 0


# --- Answers agree with the schema ----------------------------------------------------------


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _strict(node, name: str | None = None):
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` as a null type; closed objects."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node and name not in OPEN_SCHEMAS:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _validate(openapi: dict, path: str, method: str, response) -> None:
    operation = openapi["paths"][path][method]
    documented = operation["responses"][str(response.status_code)]
    content_type = response["Content-Type"].split(";")[0]
    schema = documented["content"][content_type]["schema"]
    components = {
        name: _strict(copy.deepcopy(component), name)
        for name, component in openapi["components"]["schemas"].items()
    }
    root = {**_strict(schema), "components": {"schemas": components}}
    errors = sorted(Draft7Validator(root).iter_errors(response.json()), key=str)
    assert not errors, f"{method.upper()} {path} {response.status_code}: {errors[0]}"


def test_every_answer_agrees_with_the_schema(world, client, openapi):
    body = purchase_body(world)
    calls = [
        ("/api/v1/purchases/calculate", "post", "purchases/calculate", {**body, "hold": True}),
        ("/api/v1/purchases/calculate", "post", "purchases/calculate", {**body, "lines": []}),
        ("/api/v1/purchases/confirm", "post", "purchases/confirm", body),
        ("/api/v1/purchases/confirm", "post", "purchases/confirm", {**body, "card": "0000"}),
        (
            "/api/v1/purchases/refund",
            "post",
            "purchases/refund",
            {
                "receipt_id": body["receipt_id"],
                "refund_id": "R-1",
                "lines": [{"line": 1, "quantity": "1"}],
            },
        ),
        ("/api/v1/purchases/{receipt_id}", "get", "purchases/" + body["receipt_id"], None),
        ("/api/v1/purchases/{receipt_id}", "get", "purchases/NOPE", None),
        (
            "/api/v1/purchases/cancel",
            "post",
            "purchases/cancel",
            {"receipt_id": body["receipt_id"]},
        ),
        (
            "/api/v1/purchases/offline",
            "post",
            "purchases/offline",
            {"receipts": [purchase_body(world, receipt_id="OFF-1"), {"receipt_id": "OFF-2"}]},
        ),
        ("/api/v1/cards/{number}", "get", "cards/" + world.card.number, None),
        ("/api/v1/customers/lookup", "get", "customers/lookup?phone=" + world.customer.phone, None),
        (
            "/api/v1/customers",
            "post",
            "customers",
            {"phone": "+79001112233", "first_name": "Anna", "consents": {"sms": True}},
        ),
        (
            "/api/v1/customers",
            "post",
            "customers",
            {"phone": world.customer.phone, "first_name": "A"},
        ),
        ("/api/v1/coupons/{code}", "get", "coupons/SPRING", None),
        (
            "/api/v1/tickets",
            "post",
            "tickets",
            {
                "request_id": "T-1",
                "channel": "app",
                "category": "missing_points",
                "subject": "No points",
                "body": "For receipt 42",
                "customer": {"card": world.card.number},
            },
        ),
        (
            "/api/v1/tickets",
            "post",
            "tickets",
            {"channel": "app", "category": "nope", "subject": "x", "body": "y", "customer": {}},
        ),
        (
            "/api/v1/tickets",
            "post",
            "tickets",
            {
                "channel": "app",
                "category": "nope",
                "subject": "x",
                "body": "y",
                "customer": {"email": "a@b.example"},
            },
        ),
    ]
    for path, method, url, data in calls:
        if method == "post":
            response = client.post(API + url, data, format="json")
        else:
            response = client.get(API + url)
        assert response.status_code < 500
        _validate(openapi, path, method, response)


class _FakeResponse(dict):
    def __init__(self, status_code: int, body):
        super().__init__({"Content-Type": "application/json"})
        self.status_code = status_code
        self._body = body

    def json(self):
        return self._body


@pytest.mark.parametrize(
    "body",
    [
        {"card": None, "customer": None, "balances": [], "undocumented": 1},
        {"card": None, "customer": None},
        {"card": None, "customer": None, "balances": [{"currency": "bonus"}]},
    ],
)
def test_the_agreement_check_catches_what_the_schema_does_not_say(openapi, body):
    with pytest.raises(AssertionError):
        _validate(openapi, "/api/v1/cards/{number}", "get", _FakeResponse(200, body))
