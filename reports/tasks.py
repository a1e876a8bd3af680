"""Jobs of the reports: thin wrappers over services, safe to run twice (a run already
recorded, or replaced by a newer one, is left alone)."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections, connection


def _fresh_connection() -> None:
    """Drop a connection the database closed meanwhile (not inside a caller's transaction,
    which is where an eagerly run task finds itself)."""
    if not connection.in_atomic_block:
        close_old_connections()


@shared_task(name="reports.backtest_perform", acks_late=True, ignore_result=True)
def backtest_perform_task(backtest_id: int, run_number: int) -> str | None:
    """Perform a run of a promotion back-test and record its figures or its failure."""
    # Imported here: the service module queues this task.
    from reports.services.backtests import backtest_perform

    _fresh_connection()
    try:
        return backtest_perform(backtest_id=backtest_id, run_number=run_number)
    finally:
        _fresh_connection()
