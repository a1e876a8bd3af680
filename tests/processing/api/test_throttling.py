"""Per-terminal rate limits: 429 ``throttled`` with ``Retry-After``, one bucket per terminal."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from loyalty.services.terminals import terminal_key_issue
from tests.factories.loyalty import TerminalFactory
from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

RATES = {"purchase": "3/min", "lookup": "2/min", "offline": "1/min"}


@override_settings(API_THROTTLE_RATES=RATES)
def test_the_call_over_the_rate_is_429_with_retry_after(world, client):
    url = API + "cards/" + world.card.number
    for _ in range(2):
        assert client.get(url).status_code == 200
    response = client.get(url)
    data = assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["Retry-After"] in data["detail"]


@override_settings(API_THROTTLE_RATES=RATES)
def test_scopes_are_counted_apart(world, client):
    for _ in range(2):
        client.get(API + "cards/" + world.card.number)
    assert client.get(API + "cards/" + world.card.number).status_code == 429
    # the purchase scope still has its own allowance
    response = client.post(API + "purchases/calculate", purchase_body(world), format="json")
    assert response.status_code == 200


@override_settings(API_THROTTLE_RATES=RATES)
def test_terminals_are_counted_apart_even_behind_one_address(world, client):
    # given a second register of the same store, calling from the same IP
    other = TerminalFactory(store=world.store)
    _key, raw = terminal_key_issue(terminal=other)
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    url = API + "cards/" + world.card.number
    # when the first one exhausts its allowance
    for _ in range(3):
        client.get(url)
    assert client.get(url).status_code == 429
    # then the second one is still served
    assert other_client.get(url).status_code == 200


@override_settings(API_THROTTLE_RATES=RATES)
def test_the_offline_scope_is_strictest(world, client):
    body = {"receipts": [purchase_body(world, receipt_id="OFF-1", card=None)]}
    assert client.post(API + "purchases/offline", body, format="json").status_code == 200
    assert_problem(client.post(API + "purchases/offline", body, format="json"), 429, "throttled")


@override_settings(API_THROTTLE_RATES={"purchase": "1/min"})
def test_a_scope_without_a_rate_is_not_limited(world, client):
    for _ in range(3):
        assert client.get(API + "cards/" + world.card.number).status_code == 200


def test_the_default_rates_are_generous(settings):
    assert settings.API_THROTTLE_RATES == {
        "purchase": "6000/min",
        "lookup": "600/min",
        "offline": "60/min",
    }


@override_settings(API_THROTTLE_RATES=RATES)
def test_a_broken_cache_lets_calls_through(world, client, monkeypatch):
    from django.core.cache import cache

    def boom(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", boom)
    for _ in range(4):
        assert client.get(API + "cards/" + world.card.number).status_code == 200
