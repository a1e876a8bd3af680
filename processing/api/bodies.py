"""Reading request bodies of the POS API: JSON whose text can be stored, and unsized bodies.

JSON may carry ``\\u0000`` and unpaired surrogates (``\\ud800``). PostgreSQL refuses NUL in
``text`` and ``jsonb`` and a lone surrogate cannot even be encoded to UTF-8, so such a string
failed deep in a service or in the renderer (a 500). ``PosTextJSONParser`` refuses them anywhere
in a body, keys included, as a 400 ``invalid_request`` naming each place, for every endpoint;
DRF's ``CharField`` (and so every string field of the serializers) refuses them too.

A body sent with ``Transfer-Encoding: chunked`` (as Java, .NET and Go clients do) has no
``Content-Length``; Django's ``WSGIRequest`` then reads none of it, so such a client got
``empty_body``. ``UnsizedBodyMiddleware`` reads it to its end, at most ``API_MAX_BODY_BYTES``.

``PosJSONRenderer`` is the last net for the answers: an unpaired surrogate that still reached
one is written escaped instead of failing the response.
"""

from __future__ import annotations

import codecs
import io
import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers, serializers
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.utils import json

from processing.api.problems import API_PATH_PREFIX, problem_http_response, too_large_response

logger = logging.getLogger(__name__)

# The characters no stored text may hold: NUL, and the surrogate code points, which in a valid
# Python string read from JSON can only be unpaired halves (a pair is decoded to one character).
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
# The JSON escapes that can write one (a surrogate pair's escapes too: the walk then finds none).
MAYBE_UNSTORABLE_RE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
UNSTORABLE_MESSAGE = _(
    "Text may not contain the NUL character (U+0000) or unpaired surrogates (U+D800 to U+DFFF)."
)
# At most this many places are named; a body full of them needs no longer answer.
MAX_REPORTED = 20


def _escaped(text: str) -> str:
    """The text with its unstorable characters written as ``\\u`` escapes (safe to answer)."""
    return UNSTORABLE_RE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def unstorable_text_errors(data, *, skip_items_of: str | None = None) -> dict[str, list[str]]:
    """``{dotted path: [message]}`` for every key or string of ``data`` that cannot be stored.

    Paths are those of validation errors (list positions count from 0); a bad key is named
    with its characters escaped. ``skip_items_of`` names a top-level list whose items the
    caller checks one by one (the receipts of an offline upload).
    """
    errors: dict[str, list[str]] = {}
    stack: list[tuple[str, object]] = [("", data)]
    while stack and len(errors) < MAX_REPORTED:
        path, node = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE_RE.search(node):
                errors[path or api_settings.NON_FIELD_ERRORS_KEY] = [str(UNSTORABLE_MESSAGE)]
        elif isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{_escaped(key)}" if path else _escaped(key)
                if UNSTORABLE_RE.search(key):
                    errors[child] = [str(UNSTORABLE_MESSAGE)]
                elif not (path == "" and key == skip_items_of and isinstance(value, list)):
                    stack.append((child, value))
        elif isinstance(node, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), item) for index, item in enumerate(node)
            )
    return dict(sorted(errors.items()))


class PosTextJSONParser(JSONParser):
    """DRF's JSON parser, refusing text that cannot be stored (see the module's docstring).

    The body is decoded strictly, so NUL and surrogates can only come from ``\\u0000`` and
    ``\\ud800``-``\\udfff`` escapes (a raw control character is invalid JSON): a body whose text has
    none and encodes to UTF-8 (all bodies but an odd charset's) is not walked at all, even one
    whose Cyrillic is escaped. A view sets ``unstorable_text_items`` to the name of a
    top-level list whose items it checks itself (``unstorable_text_errors``), so one bad item
    does not refuse the others.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parsers.get_encoding(parser_context)  # type: ignore[attr-defined]  # no stub
        try:
            text = codecs.getreader(encoding)(stream).read()
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if MAYBE_UNSTORABLE_RE.search(text) or not (text.isascii() or _encodes(text)):
            view = parser_context.get("view")
            errors = unstorable_text_errors(
                data, skip_items_of=getattr(view, "unstorable_text_items", None)
            )
            if errors:
                raise serializers.ValidationError(
                    {
                        path: [serializers.ErrorDetail(m, code="unstorable_text") for m in msgs]
                        for path, msgs in errors.items()
                    }
                )
        return data


class PosJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, which never fails on an unpaired surrogate that reached an answer
    (echoed in an error, say): such an answer is written with ASCII escapes instead. Every
    other answer is byte for byte DRF's."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            separators = SHORT_SEPARATORS if self.compact else LONG_SEPARATORS
            return json.dumps(
                data,
                cls=self.encoder_class,
                ensure_ascii=True,
                allow_nan=not self.strict,
                separators=separators,
            ).encode()


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- Bodies without a Content-Length --------------------------------------------------------


def _is_chunked(request: HttpRequest) -> bool:
    codings = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in (coding.strip().lower() for coding in codings.split(","))


class UnsizedBodyMiddleware:
    """Read an ``/api/`` body sent without ``Content-Length`` (chunked) before Django does.

    A WSGI server that de-chunks a body (gunicorn does) passes it on as ``wsgi.input`` with no
    ``CONTENT_LENGTH``, and ``WSGIRequest`` reads a body of that length: none. This reads
    ``wsgi.input`` to its end, at most ``API_MAX_BODY_BYTES`` (one byte more is a 413
    ``body_too_large``, the rest unread; a body that cannot be read, such as broken chunk
    framing, a 400 ``bad_request``), and gives the request that body and its length, so the
    size check, the parsers and the views see an ordinary sized body. It must come before
    anything that reads the body (``ProblemMiddleware`` included).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path_info.startswith(API_PATH_PREFIX)
            and not request.META.get("CONTENT_LENGTH")
            and _is_chunked(request)
        ):
            try:
                body = _read_to_end(request, settings.API_MAX_BODY_BYTES + 1)
            except Exception as exc:  # broken chunk framing, a client gone: the client's doing
                logger.info("unreadable chunked body: %s: %s", exc.__class__.__name__, exc)
                return problem_http_response(400, "bad_request")
            if len(body) > settings.API_MAX_BODY_BYTES:
                return too_large_response(problem_http_response)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request.META.pop("HTTP_TRANSFER_ENCODING", None)
            request._stream = io.BytesIO(body)
            request._read_started = False  # type: ignore[attr-defined]  # Django's, not in the stubs
        return self.get_response(request)


def _read_to_end(request: HttpRequest, limit: int) -> bytes:
    """Up to ``limit`` bytes of the request's raw input, read until it ends."""
    source = request.META.get("wsgi.input") or request._stream  # WSGI, else ASGI
    chunks, size = [], 0
    while size < limit:
        chunk = source.read(min(64 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
