"""Fixtures of the POS API tests: a coalition, a terminal key and a client that sends it."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone

import pytest
from django.utils import timezone as django_timezone
from rest_framework.test import APIClient

from crm.models import Customer
from loyalty.models import Card, Hold, LedgerEntry, Receipt, Refund
from loyalty.services.terminals import terminal_key_issue
from processing.api.throttles import TerminalRateThrottle
from tests.factories.processing import coalition

API = "/api/v1/"
NOVOSIBIRSK = timezone(timedelta(hours=7))


def sold_at(hours_ago: float = 1) -> str:
    """A time of sale in the recent past, ISO 8601 with a +07:00 offset."""
    moment = django_timezone.now() - timedelta(hours=hours_ago)
    return moment.astimezone(NOVOSIBIRSK).isoformat(timespec="seconds")


@pytest.fixture(autouse=True)
def _fresh_throttles(monkeypatch):
    """Throttle counters live in the cache, keyed by terminal pk, which tests reuse: give each
    test its own key space (clearing the cache would also flush a Redis shared with Celery)."""
    monkeypatch.setattr(
        TerminalRateThrottle,
        "cache_format",
        f"api-throttle-test-{uuid.uuid4().hex}:%(scope)s:%(ident)s",
    )


@pytest.fixture
def world():
    return coalition(percent="5")


@pytest.fixture
def raw_key(world) -> str:
    _key, raw = terminal_key_issue(terminal=world.terminal)
    return raw


@pytest.fixture
def client(raw_key) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return api


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def row_counts():
    """A snapshot of the rows that a request could change; compare before and after."""

    def counts() -> dict[str, int]:
        return {
            model.__name__: model.objects.count()
            for model in (Receipt, LedgerEntry, Customer, Card, Refund, Hold)
        }

    return counts


def purchase_body(world, receipt_id="0042-000173", **overrides) -> dict:
    body = {
        "receipt_id": receipt_id,
        "datetime": sold_at(),
        "card": world.card.number,
        "lines": [
            {"line": 1, "sku": "4601234567890", "quantity": "2", "price": "89.90"},
            {"line": 2, "sku": "MATTRESS-A", "quantity": "1", "price": "15990.00"},
        ],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and code; return its body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    data = response.json()
    assert data["status"] == status
    assert data["code"] == code
    assert data["type"].endswith(code)
    assert data["title"]
    assert isinstance(data["title"], str)
    assert data["detail"]
    assert isinstance(data["detail"], str)
    return data
