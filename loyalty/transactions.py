"""The transactions that move money-like values: durable, with bounded lock waits, and
retried on serialization failures and deadlocks (a lock that waits too long answers
``request_in_progress``). Every service that locks accounts runs in one."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction

from loyalty.errors import (
    RequestInProgress,
)

LOCK_TIMEOUT_MS = 2000


STATEMENT_TIMEOUT_MS = 5000


@contextmanager
def money_transaction(timeouts: bool = True):
    """The outermost transaction of a money-moving service, with bounded lock waits.

    ``timeouts=False``: the caller sets them itself with its first statements (processing.fastpath).
    """
    with transaction.atomic(durable=True):
        if timeouts and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true),"
                    " set_config('statement_timeout', %s, true)",
                    [str(LOCK_TIMEOUT_MS), str(STATEMENT_TIMEOUT_MS)],
                )
        yield


def sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None)


def retrying[T](work: Callable[[], T]) -> T:
    """Run ``work``; retry serialization failures and deadlocks, map lock timeouts to 409."""
    for attempt in range(3):
        try:
            return work()
        except OperationalError as exc:
            state = sqlstate(exc)
            if state in ("40001", "40P01") and attempt < 2:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
                continue
            if state in ("55P03", "57014"):
                raise RequestInProgress() from exc
            if connection.vendor == "sqlite" and "locked" in str(exc):
                raise RequestInProgress() from exc
            raise
    raise AssertionError("unreachable")
