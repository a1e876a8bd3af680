"""Bodies sent with ``Transfer-Encoding: chunked``, as Java, .NET and Go clients send them.

The WSGI server de-chunks such a body and hands it over as ``wsgi.input`` with no
``CONTENT_LENGTH``; Django's ``WSGIRequest`` then read nothing and the API answered
``empty_body``. These tests build that WSGI environ through Django's test client (no
Content-Length, a ``wsgi.input`` that simply ends); tests/processing/api/test_gunicorn.py sends real
chunked requests to gunicorn.
"""

from __future__ import annotations

import io
import json

import pytest

from loyalty.models import Receipt
from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db


class Input(io.BytesIO):
    """A server's ``wsgi.input`` for a de-chunked body: reads until it ends, and counts."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def post_unsized(client, url: str, body: bytes, **extra):
    """POST with the environ a WSGI server gives a chunked request: no CONTENT_LENGTH."""
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": Input(body), **extra}
    response = client.generic("POST", API + url, b"", content_type="application/json", **environ)
    response.wsgi_input = environ["wsgi.input"]
    return response


def test_a_chunked_confirm_is_read_and_committed(client, world):
    body = purchase_body(world)
    response = post_unsized(client, "purchases/confirm", json.dumps(body).encode())
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == "confirmed"
    assert answer["total"] == "16169.80"
    assert Receipt.objects.filter(receipt_id=body["receipt_id"]).count() == 1
    # the same body sized, as a retry: the same purchase, not another
    again = client.post(API + "purchases/confirm", body, format="json")
    assert again.status_code == 200
    assert again.json() == answer


@pytest.mark.parametrize("encoding", ["chunked", "Chunked", "gzip, chunked"])
def test_any_spelling_of_chunked_is_read(client, world, encoding):
    response = post_unsized(
        client,
        "purchases/calculate",
        json.dumps(purchase_body(world)).encode(),
        HTTP_TRANSFER_ENCODING=encoding,
    )
    assert response.status_code == 200, response.content


def test_every_body_endpoint_reads_it(client, world):
    """The middleware sits before everything that reads a body: the DRF serializers' path."""
    response = post_unsized(client, "customers", b'{"phone": "+79001112233", "first_name": "Anna"}')
    assert response.status_code == 201, response.content


def test_a_chunked_body_over_the_limit_is_a_413_read_no_further(client, world, settings):
    settings.API_MAX_BODY_BYTES = 2048
    body = json.dumps(purchase_body(world, comment="x" * 5000)).encode()
    response = post_unsized(client, "purchases/confirm", body)
    assert_problem(response, 413, "body_too_large")
    assert response.wsgi_input.bytes_read == 2049
    assert not Receipt.objects.exists()


def test_a_chunked_body_at_the_limit_is_read(client, world, settings):
    body = json.dumps(purchase_body(world)).encode()
    settings.API_MAX_BODY_BYTES = len(body)
    response = post_unsized(client, "purchases/calculate", body)
    assert response.status_code == 200, response.content


def test_an_empty_chunked_body_is_still_empty_body(client, world):
    assert_problem(post_unsized(client, "purchases/confirm", b""), 400, "empty_body")


def test_malformed_chunked_json_is_malformed_json(client, world):
    assert_problem(
        post_unsized(client, "purchases/confirm", b'{"receipt_id": '), 400, "malformed_json"
    )


def test_a_sized_body_is_read_as_before(client, world):
    body = json.dumps(purchase_body(world)).encode()
    response = client.generic(
        "POST", API + "purchases/calculate", body, content_type="application/json"
    )
    assert response.status_code == 200


def test_outside_the_api_nothing_is_read(client):
    stream = Input(b"x" * 10)
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream}
    response = client.generic("POST", "/health", b"", content_type="text/plain", **environ)
    assert response.status_code == 200
    assert stream.bytes_read == 0


class BrokenInput(Input):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("the client went away")


def test_a_body_that_cannot_be_read_is_a_400_problem(client, world, row_counts):
    before = row_counts()
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": BrokenInput(b"")}
    response = client.generic(
        "POST", API + "purchases/confirm", b"", content_type="application/json", **environ
    )
    assert_problem(response, 400, "bad_request")
    assert row_counts() == before
