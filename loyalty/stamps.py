"""Version stamps in the shared cache: how one process tells the others that what they keep
in memory (the rules snapshot, the verified terminal keys) has changed.

With Redis (``CACHE_URL``) every process sees a new stamp on its next read; with the
per-process memory cache only the process that bumped it does, and the callers bound what
they keep by a time-to-live as well.
"""

from __future__ import annotations

import uuid

from django.core.cache import cache


def stamp_get(key: str) -> str:
    """The current stamp under ``key``, set on first use (racing processes agree on one)."""
    stamp = cache.get(key)
    if stamp is None:
        stamp = uuid.uuid4().hex
        cache.add(key, stamp, timeout=None)
        stamp = cache.get(key) or stamp
    return stamp


def stamp_bump(key: str) -> None:
    """A new stamp: whatever was kept under the old one is stale."""
    cache.set(key, uuid.uuid4().hex, timeout=None)
