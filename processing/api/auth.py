"""Terminal API keys as DRF authentication: ``Authorization: Api-Key <key>``.

The key (djangorestframework-api-key, stored hashed) identifies a terminal; the request's
``auth`` is that ``Terminal`` with its store and partner loaded, so views, throttles and the
processing services key on it. Keys and their hashes are never logged.

A verified key is remembered by each process (under the SHA-256 of the raw key, never the key
itself) for ``KEY_CACHE_SECONDS``, so a register's calls skip the four-table lookup and the
hash check. Saving or deleting a key, a terminal, a store or a partner (revoking a key,
switching a terminal off, closing a store) bumps a version stamp in the shared cache and
forgets the process's keys at once; other processes see the stamp on their next call (with
Redis) or within ``KEY_CACHE_SECONDS`` (per-process memory cache).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import timedelta

from django.db import OperationalError
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from loyalty.models import Terminal, TerminalAPIKey
from loyalty.stamps import stamp_bump, stamp_get
from processing.api.problems import InvalidApiKey, StoreClosed, TerminalInactive

logger = logging.getLogger(__name__)

KEYWORD = "Api-Key"
# The library's keys are "<8-character prefix>.<32-character secret>", both [A-Za-z0-9]. Any
# other shape is refused before it reaches the database (no NUL bytes or megabyte headers).
KEY_RE = re.compile(r"[A-Za-z0-9]{1,8}\.[A-Za-z0-9]{1,128}")
# Last-use stamps are written at most this often per key and per terminal, not on every call.
TOUCH_INTERVAL = timedelta(minutes=1)
# How long a process trusts a key it verified without asking the database again.
KEY_CACHE_SECONDS = 60.0
KEY_CACHE_MAX = 100_000
VERSION_KEY = "api:terminal-keys-version"

# sha256(raw key) -> (monotonic time verified, version stamp, the key with its terminal)
_verified: dict[str, tuple[float, str, TerminalAPIKey]] = {}


def keys_forget(**_kwargs) -> None:
    """Forget every verified key, in this process now and in the others on their next call."""
    _verified.clear()
    try:
        stamp_bump(VERSION_KEY)
    except Exception:  # a cache outage must not stop a revocation; the TTL still bounds it
        logger.warning("could not bump the terminal keys version", exc_info=True)


def connect_signals() -> None:
    from loyalty.models import Partner, Store
    from loyalty.signals import terminals_changed

    terminals_changed.connect(keys_forget, dispatch_uid="keys-bulk")
    for model in (TerminalAPIKey, Terminal, Store, Partner):
        post_save.connect(keys_forget, sender=model, dispatch_uid=f"keys-{model.__name__}")
        post_delete.connect(keys_forget, sender=model, dispatch_uid=f"keys-del-{model.__name__}")


class TerminalPrincipal:
    """The ``request.user`` of a call made with a terminal's key: authenticated, no staff rights."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, terminal: Terminal):
        self.terminal = terminal

    def __str__(self) -> str:
        return f"terminal {self.terminal.code}"

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perm_list, obj=None) -> bool:
        return False

    def has_module_perms(self, app_label) -> bool:
        return False


class TerminalKeyAuthentication(BaseAuthentication):
    """Authenticate a terminal by one of its live API keys.

    A missing, malformed, unknown, revoked or expired key is a 401 ``invalid_api_key``; a
    terminal switched off is a 403 ``terminal_inactive``; a closed store a 403 ``store_closed``.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise InvalidApiKey(
                _("Send the terminal's key in the Authorization header: Api-Key <key>.")
            )
        keyword, _space, raw_key = header.strip().partition(" ")
        raw_key = raw_key.strip()
        if keyword.lower() != KEYWORD.lower() or not KEY_RE.fullmatch(raw_key):
            raise InvalidApiKey(
                _("The Authorization header must read: Api-Key <key>; this one does not.")
            )
        api_key = self._live_key(raw_key)
        terminal = api_key.terminal
        if not terminal.is_active:
            raise TerminalInactive()
        if not terminal.store.is_active:
            raise StoreClosed()
        self._touch(api_key, terminal)
        return TerminalPrincipal(terminal), terminal

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'

    @classmethod
    def _live_key(cls, raw_key: str) -> TerminalAPIKey:
        digest = hashlib.sha256(raw_key.encode()).hexdigest()
        try:
            version = stamp_get(VERSION_KEY)
        except Exception:  # no shared cache: trust the process's own memory for the TTL
            logger.warning("terminal keys version unavailable", exc_info=True)
            version = ""
        remembered = _verified.get(digest)
        now = time.monotonic()
        if remembered is not None:
            verified_at, seen_version, api_key = remembered
            if (
                seen_version == version
                and now - verified_at < KEY_CACHE_SECONDS
                and not api_key.has_expired
            ):
                return api_key
            _verified.pop(digest, None)
        api_key = cls._checked_key(raw_key)
        if len(_verified) >= KEY_CACHE_MAX:
            _verified.clear()
        _verified[digest] = (now, version, api_key)
        return api_key

    @staticmethod
    def _checked_key(raw_key: str) -> TerminalAPIKey:
        prefix = raw_key.partition(".")[0]
        api_key = (
            TerminalAPIKey.objects.get_usable_keys()
            .select_related("terminal__store__partner")
            .filter(prefix=prefix)
            .first()
        )
        if api_key is None or not api_key.is_valid(raw_key) or api_key.has_expired:
            raise InvalidApiKey()
        return api_key

    @staticmethod
    def _touch(api_key: TerminalAPIKey, terminal: Terminal) -> None:
        now = timezone.now()
        try:
            if api_key.last_used_at is None or now - api_key.last_used_at >= TOUCH_INTERVAL:
                TerminalAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
                api_key.last_used_at = now
            if terminal.last_seen_at is None or now - terminal.last_seen_at >= TOUCH_INTERVAL:
                Terminal.objects.filter(pk=terminal.pk).update(last_seen_at=now)
                terminal.last_seen_at = now
        except OperationalError:
            # A busy database must not refuse the call for the sake of a "last seen" stamp.
            logger.warning("could not stamp the last use of terminal %s", terminal.pk)


class TerminalKeyScheme(OpenApiAuthenticationExtension):
    """The ``ApiKeyAuth`` security scheme of the OpenAPI schema."""

    target_class = "processing.api.auth.TerminalKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "The terminal's API key, sent as `Authorization: Api-Key <key>` "
                "(type `Api-Key <key>` into the dialog)."
            ),
        }
