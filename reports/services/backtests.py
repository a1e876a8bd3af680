"""Back-test runs: queue one (for the first time or again) and perform it, recording its
progress, then its figures or its failure.

The admin and the task call these; the evaluation itself is ``promotions.backtest``, which
only reads. A run is the row plus its ``run_number``: queueing again bumps the number, so a
task of an earlier run that arrives late (or twice) writes nothing, and a run that was
replaced while it worked stops at its next progress report. A worker killed midway leaves the
row running with an old ``heartbeat_at``: ``Backtest.is_stale`` tells, and it can be queued
again.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from promotions.backtest import BacktestFigures, backtest_run
from reports.models import Backtest
from reports.tasks import backtest_perform_task

logger = logging.getLogger(__name__)

ZERO_MONEY = Decimal("0.00")
NO_FIGURES = {
    "receipts_examined": 0,
    "receipts_fired": 0,
    "customers_reached": 0,
    "occasions_rewarded": 0,
    "per_promotion": [],
    "processed": 0,
    "to_process": 0,
    "discount_amount": ZERO_MONEY,
    "points_worth": ZERO_MONEY,
    "total_cost": ZERO_MONEY,
    "discount_change": ZERO_MONEY,
    "points_worth_change": ZERO_MONEY,
    "net_change": ZERO_MONEY,
    "points": {},
    "bands": [],
}


class RunReplaced(Exception):
    """The run being performed was queued again (or finished elsewhere) meanwhile."""


@transaction.atomic
def backtest_queue(*, backtest: Backtest) -> Backtest:
    """Queue a new run of ``backtest``: clear its figures and error, bump its run number and
    send the task when the transaction commits (so that the task sees the stores chosen)."""
    Backtest.objects.filter(pk=backtest.pk).update(
        status=Backtest.Status.QUEUED,
        run_number=F("run_number") + 1,
        queued_at=timezone.now(),
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
        error="",
        **NO_FIGURES,
    )
    backtest.refresh_from_db()
    backtest_id, run_number = backtest.pk, backtest.run_number
    transaction.on_commit(lambda: backtest_perform_task.delay(backtest_id, run_number))
    return backtest


def backtest_perform(*, backtest_id: int, run_number: int) -> str | None:
    """Perform run ``run_number`` of a back-test and record its figures (status done) or the
    error (status failed); return the status written.

    The progress (receipts processed of all) is written after every chunk, with the time as a
    sign of life. Every exception is recorded on the row, so a run never stays running. A run
    that is finished, or was replaced by a newer one, is left alone (returns None); a run found
    running is taken again, as its worker was lost (the broker delivers its task again)."""
    this_run = Backtest.objects.filter(pk=backtest_id, run_number=run_number)
    unfinished = [Backtest.Status.QUEUED, Backtest.Status.RUNNING]
    now = timezone.now()
    claimed = this_run.filter(status__in=unfinished).update(
        status=Backtest.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        processed=0,
        to_process=0,
        error="",
    )
    if not claimed:
        return None

    def progress(processed: int, total: int) -> None:
        reported = this_run.filter(status=Backtest.Status.RUNNING).update(
            processed=processed, to_process=total, heartbeat_at=timezone.now()
        )
        if not reported:
            raise RunReplaced

    try:
        backtest = Backtest.objects.select_related("promotion__programme").get(pk=backtest_id)
        figures = backtest_run(backtest, progress=progress)
        this_run.filter(status=Backtest.Status.RUNNING).update(
            status=Backtest.Status.DONE,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            processed=figures.receipts_examined,
            **_figure_fields(figures),
        )
    except RunReplaced:
        logger.info("back-test %s, run %s, replaced by a newer run", backtest_id, run_number)
        return None
    except Exception as exc:
        logger.exception("back-test %s, run %s, failed", backtest_id, run_number)
        this_run.filter(status=Backtest.Status.RUNNING).update(
            status=Backtest.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}",
        )
        return Backtest.Status.FAILED
    return Backtest.Status.DONE


def _figure_fields(figures: BacktestFigures) -> dict:
    return {
        "receipts_examined": figures.receipts_examined,
        "receipts_fired": figures.receipts_fired,
        "customers_reached": figures.customers_reached,
        "occasions_rewarded": figures.occasions_rewarded,
        "per_promotion": figures.promotions_json(),
        "discount_amount": figures.discount_amount,
        "points_worth": figures.points_worth,
        "total_cost": figures.total_cost,
        "discount_change": figures.discount_change,
        "points_worth_change": figures.points_worth_change,
        "net_change": figures.net_change,
        "points": figures.points_json(),
        "bands": figures.bands_json(),
    }


def backtest_progress(backtest: Backtest) -> dict:
    """What the back-test's page polls: the status, the receipts processed of all, whether
    the run lost its worker, and the error of a failed run."""
    stale = backtest.is_stale()
    return {
        "status": backtest.status,
        "status_label": str(backtest.get_status_display()),
        "run_number": backtest.run_number,
        "processed": backtest.processed,
        "to_process": backtest.to_process,
        "percent": backtest.percent_done,
        "is_stale": stale,
        "is_finished": stale or backtest.status in (Backtest.Status.DONE, Backtest.Status.FAILED),
        "error": backtest.error,
    }
