"""Terminal keys: who may call the POS API, and what a refused call answers."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.models import Terminal, TerminalAPIKey
from loyalty.services.terminals import terminal_key_issue, terminal_key_revoke
from processing.api import auth
from tests.processing.api.conftest import API, assert_problem

pytestmark = pytest.mark.django_db

CARD_URL = API + "cards/{}"


def _client(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_a_live_key_authenticates_the_terminal(world, client):
    # when a register asks for a card with its key
    response = client.get(CARD_URL.format(world.card.number))
    # then it is served
    assert response.status_code == 200
    assert response.json()["card"]["number"] == world.card.number


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Api-Key",
        "Bearer abcdefgh.0123456789",
        "Api-Key nodot",
        "Api-Key abcdefgh.0123456789",
        "Api-Key abcdefgh.bad\x00byte",
        "Api-Key " + "a" * 5000,
    ],
)
def test_a_missing_or_bad_key_is_401_with_a_challenge(world, header, row_counts):
    before = row_counts()
    response = _client(header).get(CARD_URL.format(world.card.number))
    assert_problem(response, 401, "invalid_api_key")
    assert response["WWW-Authenticate"].startswith("Api-Key")
    assert row_counts() == before


def test_a_key_of_the_right_prefix_with_a_wrong_secret_is_401(world, raw_key):
    prefix = raw_key.partition(".")[0]
    response = _client(f"Api-Key {prefix}.{'x' * 32}").get(CARD_URL.format(world.card.number))
    assert_problem(response, 401, "invalid_api_key")


def test_a_revoked_key_is_401_from_the_next_call(world, raw_key):
    # given a key that works
    client = _client(f"Api-Key {raw_key}")
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    # when it is revoked
    terminal_key_revoke(key=TerminalAPIKey.objects.get_from_key(raw_key))
    # then the next call is refused
    assert_problem(client.get(CARD_URL.format(world.card.number)), 401, "invalid_api_key")


def test_an_expired_key_is_401(world):
    key, raw = terminal_key_issue(terminal=world.terminal)
    TerminalAPIKey.objects.filter(pk=key.pk).update(
        expiry_date=timezone.now() - timedelta(minutes=1)
    )
    response = _client(f"Api-Key {raw}").get(CARD_URL.format(world.card.number))
    assert_problem(response, 401, "invalid_api_key")


def test_two_live_keys_of_one_terminal_both_work_during_rotation(world):
    _old, old_raw = terminal_key_issue(terminal=world.terminal)
    _new, new_raw = terminal_key_issue(terminal=world.terminal, name="rotation")
    for raw in (old_raw, new_raw):
        assert _client(f"Api-Key {raw}").get(CARD_URL.format(world.card.number)).status_code == 200


def test_the_keyword_is_case_insensitive(world, raw_key):
    response = _client(f"api-key {raw_key}").get(CARD_URL.format(world.card.number))
    assert response.status_code == 200


def test_an_inactive_terminal_is_403(world, client):
    Terminal.objects.filter(pk=world.terminal.pk).update(is_active=False)
    assert_problem(client.get(CARD_URL.format(world.card.number)), 403, "terminal_inactive")


def test_a_closed_store_is_403(world, client):
    world.store.is_active = False
    world.store.save(update_fields=["is_active"])
    assert_problem(client.get(CARD_URL.format(world.card.number)), 403, "store_closed")


def test_refusals_come_before_validation(world, anonymous_client):
    # an anonymous malformed body is refused for the key, not parsed
    response = anonymous_client.post(
        API + "purchases/confirm", data="{not json", content_type="application/json"
    )
    assert_problem(response, 401, "invalid_api_key")


def test_last_use_is_stamped_at_most_once_a_minute(world, raw_key, client):
    key = TerminalAPIKey.objects.get_from_key(raw_key)
    assert key.last_used_at is None
    # the first call stamps the key and the terminal
    client.get(CARD_URL.format(world.card.number))
    key.refresh_from_db()
    world.terminal.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    assert world.terminal.last_seen_at is not None
    # a call within the minute writes nothing
    client.get(CARD_URL.format(world.card.number))
    key.refresh_from_db()
    assert key.last_used_at == first
    # a call after a minute stamps again
    later = first + timedelta(minutes=2)
    with mock.patch("processing.api.auth.timezone.now", return_value=later):
        client.get(CARD_URL.format(world.card.number))
    key.refresh_from_db()
    assert key.last_used_at == later


def test_a_verified_key_is_not_looked_up_again(world, client, django_assert_num_queries):
    # given a register that has called once
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    # when it calls again, only the summary's own queries run (no key or terminal lookup):
    # tier (and the entry tier: no purchase has placed this customer yet), accounts, lots
    with django_assert_num_queries(4):
        assert client.get(CARD_URL.format(world.card.number)).status_code == 200


def test_a_key_revoked_by_another_process_stops_on_its_version_stamp(world, raw_key, client):
    # given a key this process has verified
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    # when another process revokes it (its signal bumps the shared stamp; ours is not called)
    TerminalAPIKey.objects.filter(prefix=raw_key.partition(".")[0]).update(revoked=True)
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200  # not seen yet
    cache.set(auth.VERSION_KEY, "bumped-elsewhere", timeout=None)
    # then the next call checks the key again and is refused
    assert_problem(client.get(CARD_URL.format(world.card.number)), 401, "invalid_api_key")


def test_a_remembered_key_is_checked_again_after_its_ttl(world, raw_key, client, monkeypatch):
    # given a key revoked behind the process's back (no signal, no stamp: a bulk SQL update)
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    TerminalAPIKey.objects.filter(prefix=raw_key.partition(".")[0]).update(revoked=True)
    # when the time a process trusts a verified key has passed
    monkeypatch.setattr(auth, "KEY_CACHE_SECONDS", 0.0)
    # then the key is looked up again and refused
    assert_problem(client.get(CARD_URL.format(world.card.number)), 401, "invalid_api_key")


def test_a_remembered_key_that_expires_is_refused_at_once(world):
    key, raw = terminal_key_issue(terminal=world.terminal)
    client = _client(f"Api-Key {raw}")
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    # when its expiry date passes while the process remembers it
    past = timezone.now() - timedelta(seconds=1)
    TerminalAPIKey.objects.filter(pk=key.pk).update(expiry_date=past)
    (_verified_at, _version, remembered) = next(iter(auth._verified.values()))
    remembered.expiry_date = past
    # then it is refused at once, not after the TTL
    assert_problem(client.get(CARD_URL.format(world.card.number)), 401, "invalid_api_key")


def test_deactivating_a_terminal_in_the_admin_applies_at_once(world, client):
    assert client.get(CARD_URL.format(world.card.number)).status_code == 200
    world.terminal.is_active = False
    world.terminal.save(update_fields=["is_active"])
    assert_problem(client.get(CARD_URL.format(world.card.number)), 403, "terminal_inactive")


def test_the_terminal_is_loaded_in_few_queries(world, client, django_assert_max_num_queries):
    # key + terminal + store + partner in one query; the summary in a handful more
    with django_assert_max_num_queries(8):
        response = client.get(CARD_URL.format(world.card.number))
    assert response.status_code == 200
