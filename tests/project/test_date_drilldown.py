"""The lists' date drill-down (``loyalty/templatetags/date_drilldown.py``) offers the same
periods, links and titles as Django's ``date_hierarchy`` tag, on the current time zone's
calendar, at every level, without asking the database for a truncation per row."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qsl

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Customer
from loyalty.templatetags.date_drilldown import _Periods, quick_date_hierarchy
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC

# Registered on these moments (UTC), on Moscow's calendar: 31 December 22:30 is already
# 1 January 2026, 30 April 20:59 is still April, 31 May 21:30 is 1 June; nobody in March or
# May 2026.
MOMENTS = [
    datetime.datetime(2024, 7, 3, 9, 0, tzinfo=UTC),
    datetime.datetime(2025, 12, 31, 22, 30, tzinfo=UTC),
    datetime.datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    datetime.datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
    datetime.datetime(2026, 4, 30, 20, 59, tzinfo=UTC),
    datetime.datetime(2026, 5, 31, 21, 30, tzinfo=UTC),
    datetime.datetime(2026, 6, 10, 8, 0, tzinfo=UTC),
]


@pytest.fixture
def customers():
    for number, moment in enumerate(MOMENTS):
        CustomerFactory(registered_at=moment, birth_date=datetime.date(1980 + number, 3, 5))


def _changelist(rf, admin_user, params):
    request = rf.get("/", params)
    request.user = admin_user
    return admin.site._registry[Customer].get_changelist_instance(request)


def test_every_level_offers_what_djangos_tag_offers(rf, admin_user, customers):
    todo, seen = [{}], []
    while todo:
        params = todo.pop(0)
        seen.append(params)
        expected = date_hierarchy(_changelist(rf, admin_user, params))
        changelist = _changelist(rf, admin_user, params)
        with CaptureQueriesContext(connection) as queries:
            answer = quick_date_hierarchy(changelist)
        assert answer == expected, params
        assert not any("django_datetime_trunc" in query["sql"] for query in queries)
        assert len(queries) <= 2
        todo += [
            dict(parse_qsl(choice["link"].lstrip("?")))
            for choice in expected["choices"]
            if choice.get("link")
        ]
    assert {"registered_at__year": "2026"} in seen  # years, then months, then days
    assert {"registered_at__year": "2026", "registered_at__month": "6"} in seen


def test_months_of_the_current_time_zone_with_the_gaps_left_out(rf, admin_user, customers):
    answer = quick_date_hierarchy(_changelist(rf, admin_user, {"registered_at__year": "2026"}))

    links = [dict(parse_qsl(choice["link"].lstrip("?"))) for choice in answer["choices"]]
    assert [link["registered_at__month"] for link in links] == ["1", "2", "4", "6"]


def test_periods_of_a_filtered_list_in_both_orders_and_of_a_date_field(customers):
    rows = Customer.objects.filter(registered_at__gte=MOMENTS[2])
    periods = _Periods(rows)
    for kind in ("year", "month", "day"):
        assert periods.datetimes("registered_at", kind) == list(
            rows.datetimes("registered_at", kind)
        )
        assert periods.datetimes("registered_at", kind, "DESC") == list(
            rows.datetimes("registered_at", kind, "DESC")
        )
        assert periods.dates("birth_date", kind) == list(rows.dates("birth_date", kind))
    assert periods.datetimes("registered_at", "month")[0] == datetime.datetime(
        2026, 1, 1, tzinfo=timezone.get_current_timezone()
    )
    assert _Periods(Customer.objects.none()).datetimes("registered_at", "month") == []


def test_the_list_page_links_the_periods(admin_client, customers):
    response = admin_client.get(reverse("admin:crm_customer_changelist"))

    assert response.status_code == 200
    assert "registered_at__year=2026" in response.content.decode()
