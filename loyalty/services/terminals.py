"""Terminals and their API keys."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from loyalty.models import Terminal, TerminalAPIKey


@transaction.atomic
def terminal_key_issue(*, terminal: Terminal, name: str = "") -> tuple[TerminalAPIKey, str]:
    """Create a new API key for ``terminal`` and return it with the raw key.

    The raw key is shown once: only its hash is stored. Older keys stay valid until revoked,
    so a register can be switched to the new key before the old one is revoked (rotation).
    """
    label = name or f"{terminal.code} {timezone.localdate():%Y-%m-%d}"
    key, raw = TerminalAPIKey.objects.create_key(terminal=terminal, name=label[:50])
    assert isinstance(key, TerminalAPIKey)  # the manager's model (typed as the abstract one)
    return key, raw


@transaction.atomic
def terminal_key_revoke(*, key: TerminalAPIKey) -> TerminalAPIKey:
    """Revoke ``key`` for good: calls made with it are refused from now on."""
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key
