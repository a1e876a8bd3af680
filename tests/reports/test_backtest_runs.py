"""A saved back-test runs in the background: progress on its row and page (polled, never
waited for), a failure shown with its cause and run again, a worker killed midway detected as
stale and run again, a run replaced midway stopping without writing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from promotions import backtest as backtest_module
from reports.models import STALE_AFTER, Backtest
from reports.services import backtests as service
from reports.services.backtests import backtest_perform, backtest_queue
from tests.reports.test_backtest_honest import SINCE, UNTIL, at, draft, store_receipt, world  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
D = Decimal


@pytest.fixture
def saved(world):  # noqa: F811
    """Five receipts of 100.00 in March and a saved back-test of a draft 10 % discount."""
    for day in range(1, 6):
        store_receipt(world, world.card, at(day), [("X", "100.00")])
    ten = draft(world, "-10 %", rewards=[{"kind": "discount_percent", "value": "10"}])
    return Backtest.objects.create(promotion=ten, since=SINCE, until=UNTIL)


def test_the_progress_is_written_chunk_by_chunk(saved, monkeypatch):
    # given chunks of two receipts, and a spy reading the row at each progress report
    monkeypatch.setattr(backtest_module, "CHUNK_SIZE", 2)
    seen = []
    real_run = service.backtest_run

    def spying_run(backtest, progress):
        def spy(processed, total):
            progress(processed, total)
            row = Backtest.objects.get(pk=backtest.pk)
            seen.append((row.status, row.processed, row.to_process, row.percent_done))

        return real_run(backtest, progress=spy)

    monkeypatch.setattr(service, "backtest_run", spying_run)
    backtest_queue(backtest=saved)

    # when
    assert backtest_perform(backtest_id=saved.pk, run_number=saved.run_number) == "done"

    # then 0, 2, 4 and 5 of 5 receipts, then done at 100 %
    assert seen == [
        ("running", 0, 5, 0),
        ("running", 2, 5, 40),
        ("running", 4, 5, 80),
        ("running", 5, 5, 100),
    ]
    saved.refresh_from_db()
    assert (saved.status, saved.processed, saved.to_process, saved.percent_done) == (
        "done",
        5,
        5,
        100,
    )
    assert saved.total_cost == D("50.00")


def test_the_page_polls_a_progress_endpoint_and_the_admin_add_queues_on_commit(
    world,  # noqa: F811
    admin_client,
    django_capture_on_commit_callbacks,
):
    store_receipt(world, world.card, at(2), [("X", "100.00")])
    ten = draft(world, "-10 %", rewards=[{"kind": "discount_percent", "value": "10"}])
    # the add page names the zone of the period
    add_page = admin_client.get(reverse("admin:reports_backtest_add"))
    assert f"Back office time ({settings.TIME_ZONE})" in add_page.text

    # nothing runs before the commit: the task is queued on commit (eagerly run here)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:reports_backtest_add"),
            {
                "promotion": ten.pk,
                "since_0": "2025-03-01",
                "since_1": "00:00:00",
                "until_0": "2025-04-01",
                "until_1": "00:00:00",
            },
        )
    assert response.status_code == 302
    backtest = Backtest.objects.get()
    assert (backtest.status, len(callbacks)) == ("queued", 1)
    page = admin_client.get(reverse("admin:reports_backtest_change", args=[backtest.pk]))
    progress_url = reverse("admin:reports_backtest_progress", args=[backtest.pk])
    assert progress_url in page.text
    assert "runs in the background" in page.text
    assert admin_client.get(progress_url).json() | {"status_label": None} == {
        "status": "queued",
        "status_label": None,
        "run_number": 1,
        "processed": 0,
        "to_process": 0,
        "percent": 0,
        "is_stale": False,
        "is_finished": False,
        "error": "",
    }

    # when the commit's callback runs the task
    callbacks[0]()

    # then the endpoint says it is done
    answer = admin_client.get(progress_url).json()
    assert (answer["status"], answer["percent"], answer["is_finished"]) == ("done", 100, True)
    backtest.refresh_from_db()
    assert backtest.total_cost == D("10.00")


def test_a_worker_killed_midway_leaves_a_stale_run_that_can_be_run_again(
    saved, admin_client, django_capture_on_commit_callbacks
):
    # given a run whose worker died after its first chunk
    backtest_queue(backtest=saved)
    long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=1)
    Backtest.objects.filter(pk=saved.pk).update(
        status="running", started_at=long_ago, heartbeat_at=long_ago, processed=2, to_process=5
    )
    saved.refresh_from_db()
    recent = Backtest.objects.get(pk=saved.pk)
    recent.heartbeat_at = timezone.now()

    # then it is stale (one that reported a minute ago is not)
    assert saved.is_stale() is True
    assert recent.is_stale() is False
    progress_url = reverse("admin:reports_backtest_progress", args=[saved.pk])
    answer = admin_client.get(progress_url).json()
    assert (answer["is_stale"], answer["is_finished"], answer["percent"]) == (True, True, 40)
    page = admin_client.get(reverse("admin:reports_backtest_change", args=[saved.pk]))
    assert "its worker stopped" in page.text
    listing = admin_client.get(reverse("admin:reports_backtest_changelist"))
    assert "stale: its worker stopped" in listing.text

    # when it is run again from its page (the task runs on commit, eagerly here)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:reports_backtest_run_again", args=[saved.pk]))

    # then a new run is done, and the dead run's task, delivered late, writes nothing
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.status, saved.run_number, saved.total_cost) == ("done", 2, D("50.00"))
    assert saved.is_stale() is False
    assert backtest_perform(backtest_id=saved.pk, run_number=1) is None


def test_running_again_is_a_post_with_the_change_permission(saved, admin_client):
    url = reverse("admin:reports_backtest_run_again", args=[saved.pk])
    assert admin_client.get(url).status_code == 403
    assert (
        admin_client.post(reverse("admin:reports_backtest_run_again", args=[0])).status_code == 404
    )


def test_a_run_replaced_midway_stops_without_writing(saved, monkeypatch):
    # given a run that is queued again while it works (its first progress report)
    monkeypatch.setattr(backtest_module, "CHUNK_SIZE", 2)
    real_run = service.backtest_run

    def replaced(backtest, progress):
        def spy(processed, total):
            if processed == 2:
                Backtest.objects.filter(pk=backtest.pk).update(
                    run_number=backtest.run_number + 1, status="queued"
                )
            progress(processed, total)

        return real_run(backtest, progress=spy)

    monkeypatch.setattr(service, "backtest_run", replaced)
    backtest_queue(backtest=saved)

    # when
    assert backtest_perform(backtest_id=saved.pk, run_number=1) is None

    # then the newer run is left queued, with no figures and no error
    saved.refresh_from_db()
    assert (saved.status, saved.run_number, saved.error, saved.total_cost) == (
        "queued",
        2,
        "",
        D("0.00"),
    )


def test_a_failed_run_shows_why_on_its_page_and_runs_again(
    saved, admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(backtest_module, "evaluate", broken)
    backtest_queue(backtest=saved)
    assert backtest_perform(backtest_id=saved.pk, run_number=1) == "failed"
    page = admin_client.get(reverse("admin:reports_backtest_change", args=[saved.pk]))
    assert "The run failed: RuntimeError: the engine broke" in page.text
    assert "Run again" in page.text

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:reports_backtest_run_again", args=[saved.pk]))
    saved.refresh_from_db()
    assert (saved.status, saved.error, saved.total_cost) == ("done", "", D("50.00"))
