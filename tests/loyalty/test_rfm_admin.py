"""The RFM schemes' admin: the matrix page reads only the run's aggregates (a few queries, no
score or receipt row) and shows the heat map, the named cells, the movement and the runs; its
buttons recompute and make a segment per cell for those who may change the scheme; the cells
are checked on the form and a new scheme without cells gets the standard map."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Segment
from loyalty.models import RfmCell, RfmRun, RfmRunStat, RfmScheme, RfmScore
from loyalty.rfm.compute import rfm_recompute
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory, TerminalFactory
from tests.loyalty.rfm_helpers import buy, scheme_make

# the admin recomputes in the request when Celery runs tasks inline (the demo, CI with no
# broker); the PostgreSQL + Redis run has a broker, so these tests ask for inline tasks
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
D = Decimal


class World:
    def __init__(self):
        self.now = timezone.now().replace(microsecond=0)
        self.currency = CurrencyFactory()
        self.terminal = TerminalFactory()


@pytest.fixture
def scheme():
    world = World()
    customers = CustomerFactory.create_batch(5)
    for i, customer in enumerate(customers):
        for n in range(i + 1):
            buy(world, customer, days_ago=3 * (4 - i) + n, money="250.00")
    made = scheme_make(world.currency.programme, name="Yearly RFM")
    rfm_recompute(made.pk, now=world.now - timedelta(days=30))
    rfm_recompute(made.pk, now=world.now)
    return made


def matrix_url(scheme) -> str:
    return reverse("admin:loyalty_rfmscheme_matrix", args=[scheme.pk])


def test_the_matrix_reads_only_the_aggregates_of_the_run(admin_client, scheme):
    rfm_recompute(scheme.pk, now=RfmRun.objects.filter(scheme=scheme).first().as_of)  # all stay
    admin_client.get(matrix_url(scheme))  # the session and the templates warmed up

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(matrix_url(scheme))

    assert response.status_code == 200
    sql = " ".join(q["sql"] for q in queries.captured_queries).lower()
    assert "rfmscore" not in sql
    assert "loyalty_receipt" not in sql
    assert len(queries.captured_queries) < 12
    page = response.content.decode()
    grid = page[page.index('id="rfm-grid"') :].split("</table>")[0]
    assert grid.count('class="rfm-square') == 25
    assert 'data-r="5" data-f="5" data-cell="champions" data-customers="1"' in grid
    assert "rgba(37, 99, 235, 1.00)" in grid  # the fullest square, darkest
    assert "Champions" in page[page.index('id="rfm-cells"') :]
    moves = page[page.index('id="rfm-moves"') :].split("</table>")[0]
    assert moves.count('class="rfm-stayed"') == 5  # the five customers stayed, each in a cell
    assert page[page.index('id="rfm-runs"') :].count("<tr>") == 4  # the head and three runs


def test_the_matrix_shows_the_counts_of_the_run_whatever_the_scores(admin_client, scheme):
    # a run of a million customers costs the page what a run of five did
    run = RfmRun.objects.filter(scheme=scheme).order_by("-as_of").first()
    RfmRunStat.objects.filter(run=run, r=5, f=5).update(customers=1_000_000, money=D("1.5e9"))
    RfmRun.objects.filter(pk=run.pk).update(size=1_000_004)

    page = admin_client.get(matrix_url(scheme)).content.decode()

    assert "1,000,000" in page
    assert "1,500,000,000.00" in page
    assert "100.0%" in page  # of 1,000,004


def test_a_scheme_never_run_says_so(admin_client):
    made = scheme_make(CurrencyFactory().programme)

    page = admin_client.get(matrix_url(made)).content.decode()

    assert 'id="rfm-never"' in page
    assert page.count('class="rfm-square') == 25


def test_recompute_now_and_a_segment_per_cell(admin_client, scheme):
    runs = RfmRun.objects.filter(scheme=scheme).count()

    response = admin_client.post(reverse("admin:loyalty_rfmscheme_recompute", args=[scheme.pk]))
    made = admin_client.post(reverse("admin:loyalty_rfmscheme_segments", args=[scheme.pk]))

    assert response.status_code == made.status_code == 302
    assert RfmRun.objects.filter(scheme=scheme).count() == runs + 1
    assert Segment.objects.filter(code__startswith="rfm.main.").count() == 11
    page = admin_client.get(matrix_url(scheme)).content.decode()
    assert "5 customers scored" in page
    assert "11 segments created" in page
    # a GET changes nothing
    assert (
        admin_client.get(reverse("admin:loyalty_rfmscheme_recompute", args=[scheme.pk])).status_code
        == 405
    )


def test_the_list_actions_recompute_and_make_segments(admin_client, scheme):
    url = reverse("admin:loyalty_rfmscheme_changelist")
    for action in ("recompute_now", "create_cell_segments"):
        admin_client.post(url, {"action": action, "_selected_action": [scheme.pk]})

    assert RfmRun.objects.filter(scheme=scheme).count() == 3
    assert Segment.objects.filter(code__startswith="rfm.main.").count() == 11


def test_a_reader_sees_the_matrix_without_the_buttons_and_cannot_press_them(
    client, django_user_model, scheme
):
    reader = django_user_model.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_rfmscheme"))
    client.force_login(reader)

    page = client.get(matrix_url(scheme))
    pressed = client.post(reverse("admin:loyalty_rfmscheme_recompute", args=[scheme.pk]))
    made = client.post(reverse("admin:loyalty_rfmscheme_segments", args=[scheme.pk]))

    assert page.status_code == 200
    assert 'id="rfm-recompute"' not in page.content.decode()
    assert pressed.status_code == made.status_code == 403
    assert RfmRun.objects.filter(scheme=scheme).count() == 2
    assert not Segment.objects.exists()


def test_cells_with_a_bad_recompute_are_reported_not_raised(admin_client, scheme):
    RfmCell.objects.filter(scheme=scheme, code="lost").delete()

    response = admin_client.post(
        reverse("admin:loyalty_rfmscheme_recompute", args=[scheme.pk]), follow=True
    )

    assert "was not recomputed" in response.content.decode()
    assert "R1 F1" in response.content.decode()
    assert RfmRun.objects.filter(scheme=scheme).count() == 2


def _form(scheme_or_none, programme, cells) -> dict:
    data = {
        "programme": programme.pk,
        "code": "yearly",
        "name": "Yearly",
        "description": "",
        "is_active": "on",
        "window_days": "365",
        "recency_scoring": "quintiles",
        "recency_bounds": "",
        "frequency_scoring": "thresholds",
        "frequency_bounds": "2,3,5,8",
        "monetary_scoring": "quintiles",
        "monetary_bounds": "",
        "cells-TOTAL_FORMS": str(len(cells)),
        "cells-INITIAL_FORMS": str(sum(1 for cell in cells if cell.get("id"))),
        "cells-MIN_NUM_FORMS": "0",
        "cells-MAX_NUM_FORMS": "1000",
    }
    for i, cell in enumerate(cells):
        for key, value in cell.items():
            data[f"cells-{i}-{key}"] = value
    return data


def test_a_new_scheme_without_cells_gets_the_standard_map(admin_client):
    programme = CurrencyFactory().programme

    response = admin_client.post(reverse("admin:loyalty_rfmscheme_add"), _form(None, programme, []))

    assert response.status_code == 302
    made = RfmScheme.objects.get(code="yearly")
    assert made.frequency_bounds == "2, 3, 5, 8"
    assert RfmCell.objects.filter(scheme=made).count() == 11


def test_cells_that_do_not_cover_the_grid_are_refused_on_the_form(admin_client):
    programme = CurrencyFactory().programme
    everything = {"code": "all", "name": "All", "r_min": "1", "r_max": "5", "f_min": "1", "f_max": "5", "position": "0"}  # fmt: skip
    half = {**everything, "code": "half", "r_max": "2"}

    overlap = admin_client.post(
        reverse("admin:loyalty_rfmscheme_add"), _form(None, programme, [everything, half])
    )
    gap = admin_client.post(reverse("admin:loyalty_rfmscheme_add"), _form(None, programme, [half]))
    whole = admin_client.post(
        reverse("admin:loyalty_rfmscheme_add"), _form(None, programme, [everything])
    )

    assert "Squares in two cells: R1 F1" in overlap.content.decode()
    assert "Squares in no cell: R3 F1" in gap.content.decode()
    assert whole.status_code == 302
    assert list(RfmCell.objects.values_list("code", flat=True)) == ["all"]


def test_a_cell_edited_on_the_form_moves_the_current_scores(admin_client, scheme):
    cells = list(RfmCell.objects.filter(scheme=scheme).order_by("position", "pk"))
    rows = [
        {
            "id": str(cell.pk),
            "scheme": str(scheme.pk),
            "code": "gone" if cell.code == "lost" else cell.code,
            "name": cell.name,
            "r_min": str(cell.r_min),
            "r_max": str(cell.r_max),
            "f_min": str(cell.f_min),
            "f_max": str(cell.f_max),
            "position": str(cell.position),
        }
        for cell in cells
    ]
    data = _form(scheme, scheme.programme, rows)
    data.update(code=scheme.code, frequency_scoring="quintiles", frequency_bounds="")

    response = admin_client.post(reverse("admin:loyalty_rfmscheme_change", args=[scheme.pk]), data)

    assert response.status_code == 302
    assert not RfmScore.objects.filter(scheme=scheme, cell="lost").exists()
    assert RfmCell.objects.filter(scheme=scheme, code="gone").exists()


def test_with_a_broker_recompute_now_is_queued_for_the_worker(admin_client, admin_user, scheme):
    from unittest import mock

    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # as with a broker
    try:
        with mock.patch("loyalty.tasks.rfm_recompute_task.delay_on_commit") as queued:
            response = admin_client.post(
                reverse("admin:loyalty_rfmscheme_recompute", args=[scheme.pk]), follow=True
            )
    finally:
        app.conf.task_always_eager = eager

    queued.assert_called_once_with(scheme.pk, admin_user.pk)
    assert "is being recomputed" in response.content.decode()
    assert RfmRun.objects.filter(scheme=scheme).count() == 2  # the worker runs it


def test_the_worker_task_recomputes_and_reports_bad_cells(admin_user, scheme):
    from loyalty.tasks import rfm_recompute_task

    assert rfm_recompute_task(scheme.pk, admin_user.pk) == 5
    assert RfmRun.objects.filter(scheme=scheme).first().user == admin_user
    RfmCell.objects.filter(scheme=scheme, code="lost").delete()
    assert rfm_recompute_task(scheme.pk) is None
    assert RfmRun.objects.filter(scheme=scheme).count() == 3
