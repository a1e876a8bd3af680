"""Every error under /api/ is an RFC 9457 problem; no request, however malformed, gets a 500
or changes a row."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

CONFIRM = API + "purchases/confirm"
CALCULATE = API + "purchases/calculate"


def _post_raw(client, url, raw: bytes | str, content_type="application/json"):
    return client.generic("POST", url, raw, content_type=content_type)


def test_a_problem_has_every_member_of_the_contract(world, client):
    response = client.get(API + "cards/0000000000000")
    data = assert_problem(response, 404, "card_not_found")
    assert set(data) >= {"type", "title", "status", "code", "detail"}
    assert data["type"] == "tag:openloyalty-coalition,2026:problem:card_not_found"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"receipt_id": "1",',
        b"\xff\xfe\x00garbage",
        b"NaN",
        b"[" * 100_000 + b"]" * 100_000,
        b"   ",
    ],
)
def test_malformed_json_is_400_malformed_json(client, raw, row_counts):
    before = row_counts()
    assert_problem(_post_raw(client, CONFIRM, raw), 400, "malformed_json")
    assert row_counts() == before


@pytest.mark.parametrize("url", [CONFIRM, CALCULATE, API + "purchases/refund", API + "customers"])
def test_an_empty_body_is_400_empty_body(client, url, row_counts):
    before = row_counts()
    assert_problem(_post_raw(client, url, b""), 400, "empty_body")
    assert row_counts() == before


@pytest.mark.parametrize(
    "raw", [b"[]", b'"text"', b"null", b"42", b"{}", b'{"receipt_id": "1", "lines": [1e99999]}']
)
def test_a_body_that_is_not_a_purchase_object_is_400_invalid_request(client, raw):
    data = assert_problem(_post_raw(client, CONFIRM, raw), 400, "invalid_request")
    assert data["errors"]


def test_a_body_over_one_mebibyte_is_413_unread(world, client, row_counts):
    # given a valid purchase padded past 1 MiB with an unknown field
    body = purchase_body(world, padding="x" * (1024 * 1024))
    before = row_counts()
    # when it is sent
    response = client.post(CONFIRM, body, format="json")
    # then it is refused for its size, nothing written
    data = assert_problem(response, 413, "body_too_large")
    assert "1048576" in data["detail"]
    assert row_counts() == before


def test_a_body_just_under_the_limit_is_read(world, client):
    body = purchase_body(world, padding="")
    size = len(json.dumps(body).encode())
    body["padding"] = "x" * (1024 * 1024 - size - 100)
    response = client.post(CALCULATE, body, format="json")
    assert response.status_code == 200


@override_settings(API_MAX_BODY_BYTES=100)
def test_the_body_limit_is_a_setting(world, client):
    assert_problem(
        client.post(CALCULATE, purchase_body(world), format="json"), 413, "body_too_large"
    )


def test_request_data_too_big_from_django_is_a_413_problem(world, client):
    # Django raises RequestDataTooBig when something reads request.body past its own limit
    from django.core.exceptions import RequestDataTooBig

    with mock.patch(
        "processing.api.views.purchase_calculate", side_effect=RequestDataTooBig("big")
    ):
        response = client.post(CALCULATE, purchase_body(world), format="json")
    assert_problem(response, 413, "body_too_large")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", API + "nothing-here"),
        ("post", API + "nothing-here"),
        ("get", API),
        ("post", API + "purchases/confirm/"),
        ("delete", "/api/"),
        ("post", "/api/schema"),
        ("get", "/api/v2/cards/1"),
    ],
)
def test_an_unknown_address_under_api_is_a_404_problem(client, method, url):
    response = getattr(client, method)(url)
    assert_problem(response, 404, "not_found")


def test_a_wrong_method_is_a_405_problem_with_allow(world, client):
    response = client.get(CONFIRM)
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]
    assert_problem(client.delete(API + "cards/" + world.card.number), 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_415_problem(world, client):
    response = client.post(CONFIRM, {"receipt_id": "1"}, format="multipart")
    assert_problem(response, 415, "unsupported_media_type")


def test_a_json_body_without_a_content_type_is_read_as_json(world, client):
    response = client.generic("POST", CALCULATE, json.dumps(purchase_body(world)), content_type="")
    assert response.status_code == 200, response.content


def test_any_accept_header_gets_json(world, client):
    response = client.get(API + "cards/" + world.card.number, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    response = client.get(API + "cards/nope", HTTP_ACCEPT="application/xml")
    assert_problem(response, 404, "card_not_found")


@pytest.mark.parametrize("error", [OperationalError("server closed"), InterfaceError("gone")])
def test_an_unavailable_database_is_503_with_retry_after(world, client, error):
    with mock.patch("processing.api.views.purchase_confirm", side_effect=error):
        response = client.post(CONFIRM, purchase_body(world), format="json")
    assert_problem(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0


def test_an_unavailable_database_during_authentication_is_503(world, client):
    with mock.patch(
        "processing.api.auth.TerminalKeyAuthentication._live_key",
        side_effect=OperationalError("could not connect"),
    ):
        response = client.get(API + "cards/" + world.card.number)
    assert_problem(response, 503, "service_unavailable")


def test_an_unexpected_error_is_a_logged_500_problem(world, client, caplog):
    with mock.patch("processing.api.views.purchase_confirm", side_effect=KeyError("bug")):
        response = client.post(CONFIRM, purchase_body(world), format="json")
    assert_problem(response, 500, "internal_error")
    assert "unhandled error" in caplog.text


def test_titles_and_details_are_translated(world, client):
    response = client.get(API + "cards/0000000000000", HTTP_ACCEPT_LANGUAGE="ru")
    data = assert_problem(response, 404, "card_not_found")
    assert data["code"] == "card_not_found"  # the slug is never translated


def test_a_domain_error_with_retry_after_sends_the_header(world, client):
    from loyalty.errors import RequestInProgress

    with mock.patch("processing.api.views.purchase_confirm", side_effect=RequestInProgress()):
        response = client.post(CONFIRM, purchase_body(world), format="json")
    assert_problem(response, 409, "request_in_progress")
    assert response["Retry-After"] == "1"


def test_non_api_pages_keep_their_own_errors(client):
    response = client.get("/admin/nothing-here/")
    assert not response.get("Content-Type", "").startswith("application/problem+json")


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
LINE = st.fixed_dictionaries(
    {},
    optional={
        "line": JSON_VALUES | st.integers(min_value=-5, max_value=5),
        "sku": JSON_VALUES,
        "quantity": JSON_VALUES | st.sampled_from(["1", "0", "-1", "0.0001", "1e400", "NaN"]),
        "price": JSON_VALUES | st.sampled_from(["89.90", "89.905", "-1", "1e30", "Infinity"]),
    },
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "receipt_id": JSON_VALUES | st.text(min_size=0, max_size=80),
        "datetime": JSON_VALUES
        | st.sampled_from(
            ["2026-03-08T13:45:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
        ),
        "card": JSON_VALUES,
        "phone": JSON_VALUES | st.sampled_from(["8 900 123-45-67", "+1", "\x00"]),
        "lines": st.lists(LINE, max_size=4) | JSON_VALUES,
        "coupons": JSON_VALUES,
        "spend_points": JSON_VALUES | st.sampled_from(["max", "MAX", "-1", "1.001"]),
        "hold": JSON_VALUES,
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODY)
def test_no_malformed_purchase_gets_a_500_or_writes(world, client, row_counts, body):
    before = row_counts()
    response = client.post(
        CALCULATE, json.dumps(body, allow_nan=True), content_type="application/json"
    )
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
    assert row_counts() == before
