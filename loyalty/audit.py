"""Recording the audit trail.

``record`` writes one ``AuditEvent``. Who and from where come from the current context: the
``AuditMiddleware`` sets it for every request (the staff user and the client's address), and
``audit_context`` sets it for commands and jobs. ``snapshot`` and ``changes`` turn a model
instance into the JSON-safe values stored as *before* and *after*.
"""

from __future__ import annotations

import contextvars
import datetime
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

from loyalty.models.audit import AuditEvent


@dataclass(frozen=True)
class Actor:
    user: object | None = None
    address: str | None = None
    source: str = AuditEvent.Source.COMMAND


NOBODY = Actor()
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def current_actor() -> Actor:
    return _actor.get() or NOBODY


@contextmanager
def audit_context(user=None, address: str | None = None, source: str = AuditEvent.Source.COMMAND):
    """Attribute the changes made inside the block to ``user`` at ``address``."""
    token = _actor.set(Actor(user=user, address=address, source=source))
    try:
        yield
    finally:
        _actor.reset(token)


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the first X-Forwarded-For hop when the deployment
    says a trusted proxy sets it (``AUDIT_TRUST_FORWARDED_FOR``)."""
    if getattr(settings, "AUDIT_TRUST_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _source_of(request) -> str:
    path = request.path_info or ""
    if path.startswith("/admin/"):
        return AuditEvent.Source.ADMIN
    if path.startswith("/api/"):
        return AuditEvent.Source.API
    return AuditEvent.Source.STAFF


class AuditMiddleware:
    """Sets the audit context for the request: its user (once authenticated) and address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
        with audit_context(user=user, address=client_address(request), source=_source_of(request)):
            return self.get_response(request)


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "<binary>"
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "storage"):  # a file field
        return value.name or ""
    return value


# Fields never written into the trail (secrets stay secret even to auditors).
SECRET_FIELDS = frozenset({"password", "hashed_key", "key", "secret", "token"})


def snapshot(instance: models.Model) -> dict:
    """The instance's concrete field values, JSON-safe (foreign keys as their ids)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        values[field.attname] = _json_value(getattr(instance, field.attname))
    return values


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields whose values differ, as (before, after)."""
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return (
        {k: before.get(k) for k in changed if k in before},
        {k: after.get(k) for k in changed if k in after},
    )


def record(
    action: str,
    target: models.Model | None = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
    user=None,
    address: str | None = None,
) -> AuditEvent:
    """Write one audit event about ``target`` (a model instance, or None for a general one).

    ``user`` and ``address`` default to the current context's."""
    actor = current_actor()
    user = user if user is not None else actor.user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AuditEvent(
        action=action,
        user=user,
        username=user.get_username() if user is not None else "",
        address=address if address is not None else actor.address,
        source=actor.source,
        before=before or {},
        after=after or {},
        note=note,
    )
    if target is not None:
        event.content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        event.object_id = str(target.pk) if target.pk is not None else ""
        event.object_repr = str(target)[:200]
    event.save()
    return event
