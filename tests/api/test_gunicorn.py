"""The API under its production server: gunicorn with config/gunicorn.conf.py, on a free
loopback port, spoken to over a raw socket. Every answer under /api/ is a problem document,
even for a request gunicorn refuses itself, before Django."""

from __future__ import annotations

import json

import pytest

from tests.api.gunicorn_server import Gunicorn

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
