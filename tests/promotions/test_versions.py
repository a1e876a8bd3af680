"""The history of a promotion: what changed from one version to the next, read from the JSON
documents the versions keep, and the admin page that shows it."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from promotions.exchange import version_record
from promotions.versions import ADDED, CHANGED, REMOVED, Change, change_rows, version_diff
from tests.promotions.admin_forms import admin_form_data

BASE = {
    "code": "lemon",
    "programme": "city",
    "partner": None,
    "name": "Lemonade",
    "description": "",
    "cashier_message": "",
    "status": "active",
    "priority": 10,
    "group": None,
    "exclusive": False,
    "stores": ["S1"],
    "channels": [],
    "tiers": [],
    "starts_at": "2026-03-01T00:00:00+03:00",
    "ends_at": None,
    "weekdays": [],
    "time_from": None,
    "time_to": None,
    "conditions": [
        {"or_group": 1, "kind": "receipt_total", "operator": "gte", "amount": "100",
         "quantity": None, "product_set": None, "tiers": []},
        {"or_group": 1, "kind": "line_count", "operator": "gte", "amount": None,
         "quantity": "2", "product_set": None, "tiers": []},
        {"or_group": 2, "kind": "customer_tier", "operator": "gte", "amount": None,
         "quantity": None, "product_set": None, "tiers": ["gold"]},
    ],
    "rewards": [
        {"kind": "points_percent", "value": "5", "product_set": None, "every_n": None,
         "multiplier_of": None, "currency": "bonus", "activation_delay_days": 0,
         "lifetime_days": None},
    ],
}  # fmt: skip


def _new(**changes) -> dict:
    document = copy.deepcopy(BASE)
    document.update(changes)
    return document


def test_the_same_document_has_no_changes():
    assert version_diff(BASE, copy.deepcopy(BASE)) == []


def test_the_promotions_own_fields_from_what_to_what_in_the_documents_order():
    # when
    changes = version_diff(BASE, _new(status="paused", name="Lemonade+", stores=["S1", "S2"]))
    # then
    assert changes == [
        Change("promotion", CHANGED, "name", "Lemonade", "Lemonade+"),
        Change("promotion", CHANGED, "status", "active", "paused"),
        Change("promotion", CHANGED, "stores", ["S1"], ["S1", "S2"]),
    ]


def test_a_condition_removed_in_the_middle_is_one_removal_not_a_shift():
    # given
    conditions = [BASE["conditions"][0], BASE["conditions"][2]]
    # when
    changes = version_diff(BASE, _new(conditions=conditions))
    # then
    assert changes == [Change("conditions", REMOVED, old=BASE["conditions"][1], number=2)]


def test_a_changed_reward_and_an_added_one():
    # given
    rewards = copy.deepcopy(BASE["rewards"])
    rewards[0]["value"] = "7"
    rewards.append({"kind": "points_fixed", "value": "50", "currency": "bonus"})
    # when
    changes = version_diff(BASE, _new(rewards=rewards))
    # then
    assert changes == [
        Change("rewards", CHANGED, "value", "5", "7", number=1),
        Change("rewards", ADDED, new=rewards[1], number=2),
    ]


def test_a_key_missing_from_an_older_document_counts_as_empty():
    older = {key: value for key, value in BASE.items() if key != "cashier_message"}
    assert version_diff(older, BASE) == []
    assert version_diff(older, _new(cashier_message="Hi")) == [
        Change("promotion", CHANGED, "cashier_message", None, "Hi")
    ]


def test_a_flag_missing_from_an_older_reward_counts_as_off():
    # given a reward saved before "favourites_only" existed, and the same one saved now
    now = copy.deepcopy(BASE["rewards"])
    now[0]["favourites_only"] = False
    # then nothing changed; ticking the flag is one change of that reward
    assert version_diff(BASE, _new(rewards=now)) == []
    now[0]["favourites_only"] = True
    assert version_diff(BASE, _new(rewards=now)) == [
        Change("rewards", CHANGED, "favourites_only", None, True, number=1)
    ]
    # and a reward removed beside them is still matched by what it holds
    both = [copy.deepcopy(BASE["rewards"][0]) for _ in range(2)]
    both[1]["value"] = "7"
    kept = copy.deepcopy(both[1:])
    kept[0]["favourites_only"] = False
    assert version_diff(_new(rewards=both), _new(rewards=kept)) == [
        Change("rewards", REMOVED, old=both[0], number=1)
    ]


def test_the_changes_read_in_the_words_of_the_admin():
    # given
    conditions = BASE["conditions"][:2]
    rewards = copy.deepcopy(BASE["rewards"])
    rewards[0]["kind"] = "points_fixed"
    changes = version_diff(
        BASE,
        _new(status="paused", exclusive=True, weekdays=[1, 7], conditions=conditions,
             rewards=rewards),
    )  # fmt: skip
    # when
    with translation.override("en"):
        rows = [(r.where, r.what, r.old, r.new) for r in change_rows(changes)]
    # then
    assert rows == [
        ("", "status", "active", "paused"),
        ("", "exclusive", "no", "yes"),
        ("", "days of the week", "—", "Monday, Sunday"),
        ("condition 3", "removed", "customer: tier; group: 2; operator: at least; tiers: gold", ""),
        ("reward 1", "reward", "points: percent of the amount paid",
         "points: a fixed number per receipt"),
    ]  # fmt: skip
    with translation.override("ru"):
        russian = change_rows(changes)
    assert (russian[0].what, russian[0].old, russian[0].new) == (
        "статус",
        "активна",
        "приостановлена",
    )
    assert russian[3].where == "условие 3"
    assert russian[3].what == "удалено"


def test_moments_that_read_the_same_are_shown_exactly():
    # given: the form keeps whole seconds, a promotion made in code had a fraction
    changes = version_diff(_new(starts_at="2026-03-01T00:00:00.250000+03:00"), BASE)
    # when
    with translation.override("en"):
        (row,) = change_rows(changes)
    # then
    assert (row.what, row.old, row.new) == (
        "starts",
        "2026-03-01T00:00:00.250000+03:00",
        "2026-03-01T00:00:00+03:00",
    )
    with timezone.override("UTC"), translation.override("en"):  # as the page would read
        (row,) = change_rows(version_diff(BASE, _new(ends_at="2026-04-01T00:00:00+03:00")))
    assert row.new == "March 31, 2026, 9 p.m."


@pytest.mark.django_db
def test_the_history_page_lists_who_changed_what(admin_client):
    # given: a promotion created, then changed in the admin by Vera
    from tests.factories.processing import coalition

    world = coalition(percent="5")
    promotion = world.promotion
    version_record(promotion, user=None, source="import")
    vera = get_user_model().objects.create_superuser("vera", "v@example.com", "x")
    admin_client.force_login(vera)
    change = reverse("admin:promotions_promotion_change", args=[promotion.pk])
    data = admin_form_data(admin_client.get(change))
    data["status"] = "paused"
    data["rewards-0-value"] = "7"
    assert admin_client.post(change, data).status_code == 302
    history = reverse("admin:promotions_promotion_versions", args=[promotion.pk])
    # when
    page = admin_client.get(history)
    # then
    assert page.status_code == 200
    content = page.content.decode()
    assert 'id="version-2"' in content
    assert "by vera through the promotion form" in content
    assert "The first version." in content
    rows = [(r.where, r.what, r.old, r.new) for r in page.context["history"][0]["changes"]]
    assert ("", "status", "active", "paused") in rows
    assert ("reward 1", "percent, amount, points or factor", "5", "7") in rows
    # the change page and its versions table link to it
    change_page = admin_client.get(change).content.decode()
    assert f'href="{history}"' in change_page
    assert f'href="{history}#version-2"' in change_page


def test_the_same_moment_in_another_zone_s_notation_is_no_change():
    from promotions.versions import version_diff

    old = {"name": "Spring", "starts_at": "2026-12-01T00:00:00+03:00", "ends_at": None}
    new = {"name": "Spring", "starts_at": "2026-11-30T21:00:00+00:00", "ends_at": None}
    moved = {"name": "Spring", "starts_at": "2026-12-01T00:00:00+00:00", "ends_at": None}

    assert version_diff(old, new) == []
    assert [change.field for change in version_diff(old, moved)] == ["starts_at"]
