"""HTTP-level limits of the POS API, answered as problems whichever layer meets them.

- ``UriLengthMiddleware``: a URL (path and query, as sent) longer than ``API_MAX_URL_BYTES``
  is a 414 ``uri_too_long`` problem. The gunicorn config (``config/gunicorn.conf.py``) lets
  request lines well past this limit reach Django, so the documented limit is the one a client
  meets, in JSON.
- ``gunicorn_write_error``: what gunicorn itself answers to a request it cannot parse (a
  request line or headers over its hard limits, a malformed request line): gunicorn writes an
  HTML page there, before any application code runs; the gunicorn config puts this function in
  its place, so those answers are problems too.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from processing.api.problems import (
    API_PATH_PREFIX,
    DETAILS,
    PROBLEM_CONTENT_TYPE,
    PROBLEM_TYPE_PREFIX,
    TITLES,
    problem_data,
    problem_http_response,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

URI_TOO_LONG_TITLE = _("URL too long")
URI_TOO_LONG_DETAIL = _("The URL (path and query) is longer than %(limit)s bytes.")
HEADERS_TOO_LARGE_TITLE = _("Headers too large")
HEADERS_TOO_LARGE_DETAIL = _("The request's header fields are too large.")
NOT_IMPLEMENTED_TITLE = _("Not implemented")
NOT_IMPLEMENTED_DETAIL = _("The server does not support what this request needs.")
EXPECTATION_FAILED_TITLE = _("Expectation failed")

# gunicorn's error statuses (gunicorn.workers.base.Worker.handle_error) -> (code, title, detail)
GUNICORN_PROBLEMS: dict[int, tuple[str, StrOrPromise, StrOrPromise | None]] = {
    400: ("bad_request", TITLES["bad_request"], DETAILS["bad_request"]),
    403: ("forbidden", TITLES["forbidden"], DETAILS["forbidden"]),
    414: ("uri_too_long", URI_TOO_LONG_TITLE, None),
    417: ("expectation_failed", EXPECTATION_FAILED_TITLE, DETAILS["bad_request"]),
    431: ("headers_too_large", HEADERS_TOO_LARGE_TITLE, HEADERS_TOO_LARGE_DETAIL),
    501: ("not_implemented", NOT_IMPLEMENTED_TITLE, NOT_IMPLEMENTED_DETAIL),
}


def _uri_too_long_detail() -> str:
    return URI_TOO_LONG_DETAIL % {"limit": settings.API_MAX_URL_BYTES}


def _request_target_length(request: HttpRequest) -> int:
    """The length in bytes of the request target as the client sent it (gunicorn passes it
    as ``RAW_URI``), else as Django rebuilds it."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        return len(raw.encode("latin-1", "replace"))
    return len(request.get_full_path().encode())


class UriLengthMiddleware:
    """Refuse an ``/api/`` URL over ``API_MAX_URL_BYTES`` with a 414 problem, unread."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path_info.startswith(API_PATH_PREFIX)
            and _request_target_length(request) > settings.API_MAX_URL_BYTES
        ):
            return problem_http_response(
                414, "uri_too_long", _uri_too_long_detail(), title=URI_TOO_LONG_TITLE
            )
        return self.get_response(request)


def gunicorn_error_response(status: int, reason: str) -> bytes:
    """The whole HTTP/1.1 answer gunicorn sends for a request it refused: a problem."""
    code, title, detail = GUNICORN_PROBLEMS.get(
        status, ("internal_error", TITLES["internal_error"], DETAILS["internal_error"])
    )
    try:
        with translation.override(settings.LANGUAGE_CODE):
            if status == 414:
                detail = _uri_too_long_detail()
            body = json.dumps(problem_data(status, code, detail, title=title)).encode()
    except Exception:  # never fail to answer: the same problem, untranslated
        logger.exception("could not build the problem of a refused request")
        fallback = {"type": PROBLEM_TYPE_PREFIX + code, "title": reason, "status": status}
        body = json.dumps({**fallback, "code": code, "detail": reason}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def gunicorn_write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """A drop-in for ``gunicorn.util.write_error`` that writes a problem instead of HTML."""
    from gunicorn import util

    util.write_nonblock(sock, gunicorn_error_response(status_int, reason))
