"""The API under its production server: gunicorn with config/gunicorn.conf.py, on a free
loopback port, spoken to over a raw socket or http.client. Every answer under /api/ is a
problem document, even for a request gunicorn refuses itself, before Django; a chunked body
(no Content-Length) is read."""

from __future__ import annotations

import http.client
import json

import pytest
from django.db import connection

from loyalty.models import Receipt
from tests.processing.api.conftest import purchase_body
from tests.processing.api.gunicorn_server import Gunicorn, chunked, database_url_of_the_test

URL_LIMIT = 4096  # settings.API_MAX_URL_BYTES, documented in docs/pos-integration.md
GUNICORN_LINE_LIMIT = 8190  # limit_request_line in config/gunicorn.conf.py


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server without a database: nothing these tests send reaches one."""
    workdir = tmp_path_factory.mktemp("gunicorn")
    gunicorn = Gunicorn(workdir, f"sqlite:///{workdir / 'unused.sqlite3'}").start()
    yield gunicorn
    gunicorn.stop()


def get(server: Gunicorn, target: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    head = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return server.raw(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))


def assert_problem(answer, status: int, code: str) -> dict:
    got, headers, body = answer
    assert got == status, (got, body[:300])
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"].endswith(code)
    assert problem["title"]
    assert problem["detail"]
    return problem


def card_target(length: int) -> str:
    prefix = "/api/v1/cards/"
    return prefix + "1" * (length - len(prefix))


def test_a_url_past_the_documented_limit_is_a_414_problem_from_django(server):
    problem = assert_problem(get(server, card_target(URL_LIMIT + 1)), 414, "uri_too_long")
    assert str(URL_LIMIT) in problem["detail"]
    # gunicorn's default limit (4094 bytes of request line) would have refused this with HTML
    assert_problem(get(server, card_target(6000)), 414, "uri_too_long")


def test_a_url_within_the_limit_reaches_the_api(server):
    assert_problem(get(server, card_target(URL_LIMIT)), 401, "invalid_api_key")


def test_a_request_line_past_gunicorns_own_limit_is_a_414_problem_too(server):
    """gunicorn answers it before Django: its error page is replaced by a problem."""
    problem = assert_problem(
        get(server, card_target(GUNICORN_LINE_LIMIT + 100)), 414, "uri_too_long"
    )
    assert str(URL_LIMIT) in problem["detail"]
    assert_problem(get(server, card_target(100_000)), 414, "uri_too_long")


def test_other_requests_gunicorn_refuses_are_problems(server):
    assert_problem(
        get(server, "/api/v1/cards/1", "X-Big: " + "x" * 10_000), 431, "headers_too_large"
    )
    answer = server.raw(b"GET /api/v1/cards/1 HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n")
    assert_problem(answer, 400, "bad_request")


def test_the_server_still_serves_after_refusing(server):
    status, _headers, body = get(server, "/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


# --- Chunked bodies ---------------------------------------------------------------------------

BODY_LIMIT = 16_384  # API_MAX_BODY_BYTES of the server below


@pytest.fixture
def live(raw_key, tmp_path):
    """A server on the test's own database, with the world and the key committed (the test
    is transactional): the data is there for gunicorn to see."""
    database_url = database_url_of_the_test(tmp_path)
    gunicorn = Gunicorn(tmp_path, database_url, API_MAX_BODY_BYTES=str(BODY_LIMIT)).start()
    yield gunicorn
    gunicorn.stop()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_purchase_is_processed(live, world, raw_key):
    body = purchase_body(world)
    data = json.dumps(body).encode()
    client = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
    # an iterable body without a Content-Length: http.client sends it chunked, piece by piece
    client.request(
        "POST",
        "/api/v1/purchases/confirm",
        body=iter([data[:17], data[17:200], data[200:]]),
        headers={"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"},
    )
    response = client.getresponse()
    answer = json.loads(response.read())
    client.close()
    assert response.status == 200, answer
    assert answer["status"] == "confirmed"
    assert answer["receipt_id"] == body["receipt_id"]
    assert answer["total"] == "16169.80"
    assert [line["line"] for line in answer["lines"]] == [1, 2]

    # committed: the server reads it back
    status, _headers, stored = live.raw(
        f"GET /api/v1/purchases/{body['receipt_id']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Api-Key {raw_key}\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 200
    assert json.loads(stored)["status"] == "confirmed"
    if connection.vendor == "postgresql":  # the same database as the test's
        assert Receipt.objects.filter(receipt_id=body["receipt_id"]).count() == 1


def _post_chunked(live, raw_key: str, framed: bytes):
    head = (
        "POST /api/v1/purchases/calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Api-Key {raw_key}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return live.raw(head.encode() + framed)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_limit_is_a_413_problem(live, world, raw_key):
    data = json.dumps(purchase_body(world, comment="x" * (BODY_LIMIT + 1000))).encode()
    assert_problem(_post_chunked(live, raw_key, chunked(data, 4096)), 413, "body_too_large")
    within = json.dumps(purchase_body(world, comment="x" * (BODY_LIMIT // 2))).encode()
    status, _headers, body = _post_chunked(live, raw_key, chunked(within, 1000))
    assert status == 200, body


@pytest.mark.django_db(transaction=True)
def test_broken_chunk_framing_is_a_400_problem(live, world, raw_key):
    assert_problem(_post_chunked(live, raw_key, b"zz\r\n{}\r\n0\r\n\r\n"), 400, "bad_request")
