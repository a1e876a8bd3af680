"""Page budgets: every admin page (list, change and add of every registered model, the home
page, the calendar, the simulator) answers in fewer than 25 queries with many rows on the list,
so that no page runs a query per row. Server time on the demo data is measured by
``bench/admin_pages.py`` (docs/benchmarks.md), not asserted here (``test_page_times.py``
catches only a page an order of magnitude over)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.loyalty import ActiveCardFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db
BUDGET = 25
MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def busy_world():
    """Twelve customers' purchases, so a query per row would show."""
    world = coalition(percent="5")
    for number in range(12):
        card = world.card if number == 0 else ActiveCardFactory(programme=world.programme)
        confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=f"R{number}",
                card=card.number,
                lines=(
                    PurchaseLine(1, "A", Decimal("2"), Decimal("50.00")),
                    PurchaseLine(2, "B", Decimal("1"), Decimal("10.00")),
                ),
            ),
        )
    return world


def _queries(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(url).status_code
    return status, len(queries)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_admin_page_stays_within_the_query_budget(model, admin_client, busy_world):
    opts = model._meta
    name = f"admin:{opts.app_label}_{opts.model_name}"
    pages = [reverse(f"{name}_changelist"), reverse(f"{name}_add")]
    obj = model._default_manager.first()
    if obj is not None:
        pages.append(reverse(f"{name}_change", args=[obj.pk]))
    over = {}
    for url in pages:
        status, count = _queries(admin_client, url)
        if status == 200 and count >= BUDGET:
            over[url] = count
    assert over == {}


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:promotions_promotion_calendar",
        "admin:promotions_promotion_simulator",
        "reports:segments",
    ],
)
def test_staff_pages_stay_within_the_query_budget(url_name, admin_client, busy_world):
    status, count = _queries(admin_client, reverse(url_name))

    assert status == 200
    assert count < BUDGET
