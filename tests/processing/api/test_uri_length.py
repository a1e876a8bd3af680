"""A URL longer than the API reads (API_MAX_URL_BYTES, 4096 bytes of path and query) is a 414
problem, whichever server runs Django; under gunicorn, see tests/processing/api/test_gunicorn.py."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from processing.api.transport import gunicorn_error_response
from tests.processing.api.conftest import API, assert_problem

pytestmark = pytest.mark.django_db


def card_url(length: int) -> str:
    prefix = API + "cards/"
    return prefix + "1" * (length - len(prefix))


def test_a_url_over_the_limit_is_a_414_problem(client):
    url = card_url(settings.API_MAX_URL_BYTES + 1)
    data = assert_problem(client.get(url), 414, "uri_too_long")
    assert str(settings.API_MAX_URL_BYTES) in data["detail"]


def test_the_query_counts_too_and_any_method_is_refused_the_same(client):
    url = API + "customers/lookup?phone=" + "9" * settings.API_MAX_URL_BYTES
    assert_problem(client.get(url), 414, "uri_too_long")
    assert_problem(client.post(card_url(settings.API_MAX_URL_BYTES + 1)), 414, "uri_too_long")


def test_a_url_at_the_limit_is_read(client):
    response = client.get(card_url(settings.API_MAX_URL_BYTES))
    assert_problem(response, 404, "card_not_found")


def test_other_addresses_are_not_the_apis_business(client):
    response = client.get("/health?x=" + "1" * (settings.API_MAX_URL_BYTES + 1))
    assert response.status_code == 200


def test_the_answer_gunicorn_writes_for_a_request_it_refuses_is_a_problem():
    head, _, body = gunicorn_error_response(414, "URI Too Long").partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 414 URI Too Long"
    assert "Content-Type: application/problem+json" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert "Connection: close" in lines
    problem = json.loads(body)
    assert problem["code"] == "uri_too_long"
    assert problem["status"] == 414
    for status, code in ((400, "bad_request"), (431, "headers_too_large"), (599, "internal_error")):
        body = gunicorn_error_response(status, "Reason").partition(b"\r\n\r\n")[2]
        assert json.loads(body)["code"] == code
