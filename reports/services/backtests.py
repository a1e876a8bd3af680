"""Back-test runs: queue one (for the first time or again) and perform it, recording its
figures or its failure.

The admin and the task call these; the evaluation itself is ``promotions.backtest``, which
only reads. A run is the row plus its ``run_number``: queueing again bumps the number, so a
task of an earlier run that arrives late (or twice) writes nothing.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from promotions.backtest import BacktestFigures, BacktestRefused, backtest_run
from reports.models import Backtest
from reports.tasks import backtest_perform_task

logger = logging.getLogger(__name__)

ZERO_MONEY = Decimal("0.00")
NO_FIGURES = {
    "receipts_examined": 0,
    "receipts_fired": 0,
    "customers_reached": 0,
    "discount_amount": ZERO_MONEY,
    "points_worth": ZERO_MONEY,
    "total_cost": ZERO_MONEY,
    "discount_change": ZERO_MONEY,
    "points_worth_change": ZERO_MONEY,
    "net_change": ZERO_MONEY,
    "points": {},
    "bands": [],
}


@transaction.atomic
def backtest_queue(*, backtest: Backtest) -> Backtest:
    """Queue a new run of ``backtest``: clear its figures and error, bump its run number and
    send the task when the transaction commits (so that the task sees the stores chosen)."""
    Backtest.objects.filter(pk=backtest.pk).update(
        status=Backtest.Status.QUEUED,
        run_number=F("run_number") + 1,
        started_at=None,
        finished_at=None,
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

    Every exception is recorded on the row, so a run never stays running. A run that is
    finished, or was replaced by a newer one, is left alone (returns None); a run found
    running is taken again, as its worker was lost (the broker delivers its task again)."""
    this_run = Backtest.objects.filter(pk=backtest_id, run_number=run_number)
    unfinished = [Backtest.Status.QUEUED, Backtest.Status.RUNNING]
    claimed = this_run.filter(status__in=unfinished).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now(), error=""
    )
    if not claimed:
        return None
    try:
        backtest = Backtest.objects.select_related("promotion__programme").get(pk=backtest_id)
        figures = backtest_run(backtest)
        this_run.update(
            status=Backtest.Status.DONE, finished_at=timezone.now(), **_figure_fields(figures)
        )
    except BacktestRefused as exc:  # what it cannot compute: the reason, for the marketer
        this_run.update(status=Backtest.Status.FAILED, finished_at=timezone.now(), error=str(exc))
        return Backtest.Status.FAILED
    except Exception as exc:
        logger.exception("back-test %s, run %s, failed", backtest_id, run_number)
        this_run.update(
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
        "discount_amount": figures.discount_amount,
        "points_worth": figures.points_worth,
        "total_cost": figures.total_cost,
        "discount_change": figures.discount_change,
        "points_worth_change": figures.points_worth_change,
        "net_change": figures.net_change,
        "points": figures.points_json(),
        "bands": figures.bands_json(),
    }
