"""RFC 9457 problem details for every error answered under ``/api/``.

Every error has the same shape, ``application/problem+json``::

    {"type": "...", "title": "...", "status": 409, "code": "receipt_conflict",
     "detail": "...", "errors": {"lines.2.price": ["..."]}}

``code`` is the stable slug a register branches on; ``errors`` (validation only) maps dotted
paths into the request body (list positions count from 0) to messages. Two layers produce it:

- ``exception_handler`` (DRF's ``EXCEPTION_HANDLER``) turns whatever a POS view raises into a
  problem: domain errors (``LoyaltyError``, ``CrmError``), validation and parse errors,
  authentication, throttling, an unavailable database, and, as a last resort, a logged 500;
- ``ProblemMiddleware`` refuses bodies over the size limit before anything reads them and
  rewrites any other error response under ``/api/`` (an unknown URL, Django's own 400 or 500
  pages) into a problem, so no client ever parses HTML.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from crm.errors import DomainError
from loyalty.errors import LoyaltyError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# A ``tag:`` URI (RFC 4151) names each problem type for good without promising a web page.
PROBLEM_TYPE_PREFIX = "tag:openloyalty-coalition,2026:problem:"
API_PATH_PREFIX = "/api/"
# Seconds a register waits before retrying when the database is unavailable.
UNAVAILABLE_RETRY_AFTER = 5
RESERVED_MEMBERS = frozenset({"type", "title", "status", "code", "detail", "errors", "instance"})

TITLES = {
    "bad_request": _("Bad request"),
    "malformed_json": _("Malformed JSON"),
    "empty_body": _("Empty body"),
    "invalid_request": _("Invalid request"),
    "too_many_lines": _("Too many lines"),
    "invalid_api_key": _("Invalid API key"),
    "terminal_inactive": _("Terminal inactive"),
    "store_closed": _("Store closed"),
    "forbidden": _("Forbidden"),
    "not_found": _("Not found"),
    "method_not_allowed": _("Method not allowed"),
    "not_acceptable": _("Not acceptable"),
    "body_too_large": _("Body too large"),
    "unsupported_media_type": _("Unsupported media type"),
    "throttled": _("Too many requests"),
    "internal_error": _("Internal error"),
    "service_unavailable": _("Service unavailable"),
}

DETAILS = {
    "bad_request": _("The request cannot be read."),
    "forbidden": _("This key may not do this."),
    "not_found": _("There is nothing at this address."),
    "method_not_allowed": _("This address does not answer this HTTP method."),
    "not_acceptable": _("The API answers JSON only."),
    "body_too_large": _("The body is larger than %(limit)s bytes."),
    "unsupported_media_type": _("Send the body as JSON (Content-Type: application/json)."),
    "internal_error": _("The server failed to answer; nothing was committed by this failure."),
    "service_unavailable": _("The database is unavailable; nothing was committed. Retry later."),
}

# Django's and DRF's error responses, by HTTP status, when nothing more precise is known.
CODES_BY_STATUS = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}

# Validation codes that name the whole problem instead of ``invalid_request``.
PROMOTED_VALIDATION_CODES = ("too_many_lines",)


# --- Building problems -----------------------------------------------------------------------


def problem_data(
    status: int,
    code: str,
    detail=None,
    *,
    title=None,
    errors: Mapping[str, list[str]] | None = None,
    extra: Mapping | None = None,
) -> dict:
    """The problem document; ``extra`` members never override the standard ones."""
    data = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": str(title if title is not None else _title(code, status)),
        "status": status,
        "code": code,
        "detail": str(detail if detail is not None else DETAILS.get(code, _title(code, status))),
    }
    if errors:
        data["errors"] = {path: [str(message) for message in msgs] for path, msgs in errors.items()}
    for key, value in (extra or {}).items():
        if key not in RESERVED_MEMBERS and _is_json_scalar_or_tree(value):
            data[key] = value
    return data


def problem_response(status: int, code: str, detail=None, *, headers=None, **kwargs) -> Response:
    """A DRF response carrying a problem document (for views and the exception handler)."""
    return Response(
        problem_data(status, code, detail, **kwargs),
        status=status,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def problem_http_response(
    status: int, code: str, detail=None, *, headers=None, **kwargs
) -> HttpResponse:
    """A plain Django response carrying a problem document (for the middleware)."""
    response = HttpResponse(
        json.dumps(problem_data(status, code, detail, **kwargs), cls=DjangoJSONEncoder),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _title(code: str, status: int):
    if code in TITLES:
        return TITLES[code]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return TITLES["bad_request"]


def _is_json_scalar_or_tree(value) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json_scalar_or_tree(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_scalar_or_tree(v) for k, v in value.items())
    return False


# --- Exceptions the API raises itself --------------------------------------------------------


class ApiProblem(exceptions.APIException):
    """An API error with its own stable code (``default_code``) and HTTP status."""

    status_code = 400
    default_code = "bad_request"
    default_detail = _("The request cannot be read.")


class EmptyBody(ApiProblem):
    default_code = "empty_body"
    default_detail = _("The body is empty; send a JSON object.")


class BodyTooLarge(ApiProblem):
    status_code = 413
    default_code = "body_too_large"
    default_detail = _("The body is too large.")


class InvalidApiKey(exceptions.AuthenticationFailed):
    default_code = "invalid_api_key"
    default_detail = _("The API key is unknown, revoked or expired.")


class TerminalInactive(ApiProblem):
    status_code = 403
    default_code = "terminal_inactive"
    default_detail = _("This terminal is switched off; its calls are refused.")


class StoreClosed(ApiProblem):
    status_code = 403
    default_code = "store_closed"
    default_detail = _("The store of this terminal is closed; its calls are refused.")


class InvalidRequest(LoyaltyError):
    """A body that breaks the contract, as a domain error (an offline item's result)."""

    code = "invalid_request"
    status = 400
    message = _("The request has invalid fields; see errors.")

    def __init__(self, errors: dict[str, list[str]], *, code: str | None = None, receipt_id=None):
        super().__init__(validation_detail(code or self.code, errors), errors=errors)
        self.code = code or self.code
        self.receipt_id = receipt_id


# --- Validation errors ---------------------------------------------------------------------


def validation_errors(detail) -> tuple[str, dict[str, list[str]]]:
    """Flatten DRF's nested validation detail into (problem code, {dotted path: messages})."""
    errors: dict[str, list[str]] = {}
    codes: set[str] = set()

    def walk(node, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                key = str(key)
                if key == api_settings.NON_FIELD_ERRORS_KEY:
                    walk(value, path)
                else:
                    walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    errors.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(
                        str(item)
                    )
                    codes.add(getattr(item, "code", None) or "invalid")
                elif item:
                    walk(item, f"{path}.{index}" if path else str(index))
        elif isinstance(node, str):
            errors.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(node))
            codes.add(getattr(node, "code", None) or "invalid")

    walk(detail, "")
    code = next((c for c in PROMOTED_VALIDATION_CODES if c in codes), "invalid_request")
    return code, errors


def validation_detail(code: str, errors: Mapping[str, list[str]]) -> str:
    """The ``detail`` of a validation problem: the limit that was hit, or a pointer to errors."""
    if code == "too_many_lines" and errors.get("lines"):
        return str(errors["lines"][0])
    return str(InvalidRequest.message)


def _django_validation_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field): list(messages)
            for field, messages in exc.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: list(exc.messages)}


# --- The DRF exception handler ---------------------------------------------------------------


def exception_handler(exc, context) -> Response:
    """Answer every exception a POS view raises with a problem document (never a bare 500)."""
    set_rollback()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, DjangoValidationError):
        return problem_response(
            400,
            "invalid_request",
            InvalidRequest.message,
            errors=_django_validation_errors(exc),
        )
    if isinstance(exc, RequestDataTooBig):
        return too_large_response(problem_response)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
        return problem_response(
            503, "service_unavailable", headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
        )
    if isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc)
    logger.error("unhandled error in %s", _view_name(context), exc_info=exc)
    return problem_response(500, "internal_error")


def domain_error_response(exc: DomainError) -> Response:
    """The problem of any app's domain error: its status and code, its field errors, and its
    details where they are public."""
    details = dict(exc.details) if exc.details_public else {}
    errors = details.pop("errors", None)
    if errors is None and exc.field and exc.status != 409:
        errors = {exc.field: [str(exc.detail)]}
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(math.ceil(retry_after))
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        title=getattr(type(exc), "message", None),
        errors=errors,
        extra=details or None,
        headers=headers,
    )


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers = {}
    if isinstance(exc, exceptions.ValidationError):
        code, errors = validation_errors(exc.detail)
        return problem_response(400, code, validation_detail(code, errors), errors=errors)
    if isinstance(exc, exceptions.ParseError):
        return problem_response(
            400,
            "malformed_json",
            _("The body is not valid JSON: %(reason)s") % {"reason": exc.detail},
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        detail = exc.detail if isinstance(exc, InvalidApiKey) else InvalidApiKey.default_detail
        return problem_response(
            401, "invalid_api_key", detail, headers={"WWW-Authenticate": _auth_header(exc)}
        )
    if isinstance(exc, exceptions.Throttled):
        # DRF sets Throttled.wait; its stubs do not declare it
        wait = max(1, math.ceil(exc.wait or 1))  # type: ignore[attr-defined]
        return problem_response(
            429,
            "throttled",
            _("Too many requests from this terminal; retry in %(seconds)s s.") % {"seconds": wait},
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, ApiProblem):
        return problem_response(exc.status_code, exc.default_code, exc.detail)
    if isinstance(exc, exceptions.PermissionDenied):
        return problem_response(403, "forbidden")
    code = CODES_BY_STATUS.get(exc.status_code, "bad_request")
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(math.ceil(wait))
    return problem_response(exc.status_code, code, headers=headers)


def _auth_header(exc) -> str:
    return getattr(exc, "auth_header", None) or 'Api-Key realm="api"'


def too_large_response(build):
    """The 413 problem of a body over ``API_MAX_BODY_BYTES``, built by ``build`` (a DRF or a
    plain Django response: the middleware answers before a view does)."""
    limit = settings.API_MAX_BODY_BYTES
    return build(413, "body_too_large", DETAILS["body_too_large"] % {"limit": limit})


def _view_name(context) -> str:
    view = (context or {}).get("view")
    return type(view).__name__ if view is not None else "a view"


# --- The middleware --------------------------------------------------------------------------


class ProblemMiddleware:
    """Guard ``/api/``: refuse oversized bodies unread, and answer every error as a problem.

    Django reads a body into memory only up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` when asked for
    ``request.body``; DRF parses straight from the stream, so the size is checked here, from
    ``Content-Length``, before any view runs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PATH_PREFIX):
            return self.get_response(request)
        if _content_length(request) > settings.API_MAX_BODY_BYTES:
            return too_large_response(problem_http_response)
        response = self.get_response(request)
        return self._as_problem(response)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path_info.startswith(API_PATH_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(problem_http_response)
        if isinstance(exception, OperationalError | InterfaceError):
            return problem_http_response(
                503,
                "service_unavailable",
                headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
            )
        return None  # Django logs it and answers 500, which __call__ turns into a problem

    @staticmethod
    def _as_problem(response: HttpResponse) -> HttpResponse:
        if response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
            return response
        status = response.status_code
        code = CODES_BY_STATUS.get(status, "internal_error" if status >= 500 else "bad_request")
        if code == "body_too_large":
            return too_large_response(problem_http_response)
        headers = {
            name: response[name]
            for name in ("Allow", "Retry-After", "WWW-Authenticate")
            if response.has_header(name)
        }
        return problem_http_response(status, code, headers=headers)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any address under ``/api/`` that no route serves (any method)."""
    return problem_http_response(404, "not_found")
