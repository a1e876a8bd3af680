"""Server time of every back-office page, guarded against an order-of-magnitude regression.

The budget (300 ms a page on the demo data) is measured by ``bench/admin_pages.py``, whose
verdict is on each page's fastest round (its docstring says why), and docs/benchmarks.md keeps
its figures. A test timed at the budget itself would fail whenever the shared machine is busy,
so this one runs the bench's own ``measure`` over a small demo (60 customers, one month) with
five times the budget as its limit: a page that starts rendering a widget per customer or
asking the database per row shows, a busy neighbour does not (it was seen to double or triple
a page's time). Each page is asked once, cold (its templates compiled on the way: the worst
case of a round), and only a page over the limit is asked again, warm, three times, its
fastest round kept (a garbage collection or a neighbour's burst slows one request, not three).
It also keeps the bench working: its list of pages and its measuring are the ones run here."""

from __future__ import annotations

import pytest

from bench.admin_pages import BUDGET_MS, BUDGET_QUERIES, admin_pages, measure
from demo.loader import load_demo

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
LIMIT_MS = 5 * BUDGET_MS


def test_no_page_is_an_order_of_magnitude_over_the_time_budget(admin_client):
    load_demo(customers=60, months=1)

    pages = measure(admin_client, admin_pages(), rounds=1, warm_up=False)
    slow = [(page.label, page.url) for page in pages if page.fastest_ms >= LIMIT_MS]
    again = measure(admin_client, slow, rounds=3)

    assert len(pages) > 100
    assert {page.label: page.status for page in pages if page.status != 200} == {}
    assert {
        page.label: round(page.fastest_ms) for page in again if page.fastest_ms >= LIMIT_MS
    } == {}
    assert {page.label: page.queries for page in pages if page.queries >= BUDGET_QUERIES} == {}
