"""Fixtures of the contact centre tests: one category under a known SLA and calendar."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from contactcenter.models import Priority
from tests.factories.contactcenter import (
    QueueFactory,
    SLAPolicyFactory,
    TicketCategoryFactory,
    office_calendar,
)

MOSCOW = ZoneInfo("Europe/Moscow")


def at(day: str, hh: int, mm: int = 0) -> datetime:
    """A Moscow time; 2026-03-02 is a Monday."""
    return datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=MOSCOW)


@pytest.fixture
def calendar(db):
    """Monday to Friday, 09:00-18:00 Moscow, the default calendar."""
    return office_calendar("Europe/Moscow", is_default=True)


@pytest.fixture
def queue(db, django_user_model):
    supervisor = django_user_model.objects.create_user(
        "supervisor", email="supervisor@shop.example", is_staff=True
    )
    return QueueFactory(
        code="cards", name="Cards", supervisor=supervisor, email="cards@shop.example"
    )


@pytest.fixture
def category(calendar, queue):
    """Missing points: first answer within 1 working hour, resolution within 8 (normal);
    urgent: 15 minutes and 2 hours."""
    category = TicketCategoryFactory(
        code="missing_points_test", name="Missing points", default_queue=queue
    )
    SLAPolicyFactory(
        category=category,
        priority=Priority.NORMAL,
        first_response_minutes=60,
        resolution_minutes=480,
    )
    SLAPolicyFactory(
        category=category,
        priority=Priority.URGENT,
        first_response_minutes=15,
        resolution_minutes=120,
    )
    return category


@pytest.fixture
def operator(db, django_user_model):
    return django_user_model.objects.create_user(
        "operator", email="operator@shop.example", is_staff=True
    )
