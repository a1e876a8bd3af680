"""Banded rewards as a marketer builds them: the reward's validation, the registers' numbers
(calculate and confirm, with the customer's spend read from a counter), the query count of
the hot path, the exchange format and its round trip, the history of versions and the admin."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from loyalty.models import Counter, CounterValue
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.exchange import ImportFailed, promotions_export, promotions_import
from promotions.models import Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from promotions.versions import change_rows, version_diff
from tests.factories.loyalty import CounterFactory, ProgrammeFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db
D = Decimal
FLOATING = [
    {"from": "0", "value": "5"},
    {"from": "100", "value": "7"},
    {"from": "500", "value": "10"},
]


@pytest.fixture
def world():
    """A programme whose base promotion is finished: each test builds its own."""
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    return world


def _floating(world, **reward) -> Promotion:
    row = {"kind": "points_percent", "value": "5", "band_basis": "receipt_amount"}
    row["bands"] = FLOATING
    row.update(reward)
    return promotion(world, "Floating percent", code="floating", rewards=[row])


def _sale(world, receipt_id: str, amount: str, card=True) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number if card else None,
        lines=(PurchaseLine(1, "A", D("1"), D(amount)),),
    )


def _errors(reward: Reward) -> dict:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        reward.full_clean()
    return caught.value.message_dict


# --- the registers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "earned"),
    [("80.00", "4.00"), ("100.00", "7.00"), ("499.99", "35.00"), ("500.00", "50.00")],
)
def test_the_registers_give_the_band_of_the_receipt(world, amount, earned):
    _floating(world)
    calculated = calculate_answer(world.terminal, _sale(world, "C", amount))
    confirmed = confirm_answer(world.terminal, _sale(world, "C", amount))
    assert calculated["points_earned"] == confirmed["points_earned"] == earned


def test_bands_by_the_customers_spend_read_the_counter_of_the_period(world):
    # given a counter of money spent this month, and 7 % / 10 % bands by it
    spent = CounterFactory(programme=world.programme, unit="amount", period="month")
    _floating(world, band_basis="customer_spend", band_counter=spent)
    # when the first receipt (nothing spent before it) and then a second one
    first = confirm_answer(world.terminal, _sale(world, "R1", "120.00"))
    second = confirm_answer(world.terminal, _sale(world, "R2", "120.00"))
    # then the first is in the 5 % band (0 before it), the second in the 7 % band (120.00)
    assert (first["points_earned"], second["points_earned"]) == ("6.00", "8.40")
    assert CounterValue.objects.get(counter=spent).value == D("240.00")


def test_an_unbanded_programme_reads_as_many_rows_as_before(world):
    # given a warm snapshot, the queries of one calculate without bands
    promotion(world, "5 %", rewards=[{"kind": "points_percent", "value": "5"}])
    calculate_answer(world.terminal, _sale(world, "W", "100.00"))
    with CaptureQueriesContext(connection) as plain:
        calculate_answer(world.terminal, _sale(world, "P", "100.00"))
    # when bands by the receipt's amount are added: the same queries
    _floating(world)
    calculate_answer(world.terminal, _sale(world, "W2", "100.00"))
    with CaptureQueriesContext(connection) as by_amount:
        calculate_answer(world.terminal, _sale(world, "B", "100.00"))
    assert len(by_amount) == len(plain)
    # and bands by the customer's spend read the counters: one query more on SQLite
    spent = CounterFactory(programme=world.programme, unit="amount", period="lifetime")
    Reward.objects.filter(band_basis="receipt_amount").update(
        band_basis="customer_spend", band_counter=spent
    )
    snapshot_invalidate()
    calculate_answer(world.terminal, _sale(world, "W3", "100.00"))
    with CaptureQueriesContext(connection) as by_spend:
        calculate_answer(world.terminal, _sale(world, "S", "100.00"))
    # (PostgreSQL's fast path reads them in the same round trip as the rest)
    assert len(by_spend) == len(plain) + (0 if connection.vendor == "postgresql" else 1)
    assert any("loyalty_countervalue" in q["sql"] for q in by_spend.captured_queries)


# --- validation -------------------------------------------------------------------------------


def _reward(world, **fields) -> Reward:
    base = promotion(world, "Host", rewards=[{"kind": "points_percent", "value": "1"}])
    fields.setdefault("kind", "points_percent")
    fields.setdefault("value", D("5"))
    fields.setdefault("band_basis", "receipt_amount")
    if fields["kind"].startswith("points_"):
        fields.setdefault("currency", world.currency)
    return Reward(promotion=base, **fields)


def test_right_bands_pass_and_set_the_value_to_the_first_bands(world):
    reward = _reward(world, value=D("99"), bands=FLOATING)
    reward.full_clean()
    assert reward.value == D("5")
    with translation.override("en"):
        assert str(reward) == (
            "points: percent of the amount paid by bands: from 0: 5; from 100: 7; from 500: 10"
        )


@pytest.mark.parametrize(
    ("bands", "field", "message"),
    [
        (
            [
                {"from": "0", "value": "5"},
                {"from": "500", "value": "10"},
                {"from": "100", "value": "7"},
            ],
            "bands",
            "Band 3 starts at 100, below band 2 (from 500): list the bands from the lowest bound up.",
        ),
        (
            [
                {"from": "0", "value": "5"},
                {"from": "100", "value": "7"},
                {"from": "100", "value": "9"},
            ],
            "bands",
            "Bands 2 and 3 both start at 100: every amount must fall in one band only.",
        ),
        ([{"from": "-1", "value": "5"}], "bands", "Band 1: its lower bound is below zero."),
        ([{"from": "0", "value": "0"}], "bands", "Band 1: its value must be above zero."),
        ([{"from": "0", "value": "101"}], "bands", "Band 1: a percent is at most 100."),
        (
            [{"from": "0.001", "value": "5"}],
            "bands",
            "Band 1: its lower bound has more than 2 decimal places.",
        ),
        ([{"from": "x", "value": "5"}], "bands", "Band 1: give its lower bound and its value"),
        ([], "bands", "Give at least one band, or choose no basis for bands."),
    ],
)
def test_wrong_bands_are_refused_with_a_clear_message(world, bands, field, message):
    errors = _errors(_reward(world, bands=bands))
    assert any(text.startswith(message) for text in errors[field]), errors


def test_bands_on_a_kind_without_a_rate_or_amount_are_refused(world):
    other = promotion(world, "Other", rewards=[{"kind": "points_percent", "value": "1"}])
    reward = _reward(
        world, kind="points_multiplier", value=D("2"), multiplier_of=other, bands=FLOATING
    )
    assert "This kind of reward cannot have bands" in _errors(reward)["bands"][0]


def test_the_basis_and_its_counter(world):
    assert _errors(_reward(world, band_basis="", bands=FLOATING))["band_basis"] == [
        "Choose what the bands are measured by."
    ]
    assert (
        "Choose the counter of money spent"
        in _errors(_reward(world, band_basis="customer_spend", bands=FLOATING))["band_counter"][0]
    )
    purchases = CounterFactory(programme=world.programme, unit="purchases")
    assert (
        "choose a counter of money spent"
        in _errors(
            _reward(world, band_basis="customer_spend", band_counter=purchases, bands=FLOATING)
        )["band_counter"][0]
    )
    spent = CounterFactory(programme=world.programme, unit="amount")
    assert (
        "Only bands by the customer's spend"
        in _errors(_reward(world, band_counter=spent, bands=FLOATING))["band_counter"][0]
    )
    elsewhere = CounterFactory(programme=ProgrammeFactory(code="other"), unit="amount")
    assert _errors(
        _reward(world, band_basis="customer_spend", band_counter=elsewhere, bands=FLOATING)
    )["band_counter"] == ["The counter must be of the promotion's programme."]


# --- the exchange format ----------------------------------------------------------------------


def _export() -> dict:
    return json.loads(json.dumps(promotions_export(Promotion.objects.order_by("pk"))))


def test_bands_go_round_the_exchange_format(world):
    spent = CounterFactory(programme=world.programme, unit="amount", code="spent-year")
    _floating(world)
    promotion(world, "By spend", code="by-spend", rewards=[{
        "kind": "discount_percent", "value": "3", "band_basis": "customer_spend",
        "band_counter": spent, "bands": [{"from": "0", "value": "3"}, {"from": "1000", "value": "4"}],
    }])  # fmt: skip
    document = _export()
    floating = document["promotions"][1]["rewards"][0]
    assert floating["band_basis"] == "receipt_amount"
    assert floating["band_counter"] is None
    assert floating["bands"] == [
        {"from": "0", "to": "100", "value": "5"},
        {"from": "100", "to": "500", "value": "7"},
        {"from": "500", "to": None, "value": "10"},
    ]
    assert document["promotions"][2]["rewards"][0]["band_counter"] == "spent-year"
    # when the rewards are gone and the document is imported again
    Reward.objects.filter(promotion__code__in=["floating", "by-spend"]).delete()
    promotions_import(document)
    # then the same rewards, and the same document
    again = {p["code"]: p for p in _export()["promotions"]}
    for row in document["promotions"][1:]:
        assert again[row["code"]] == row
    assert Reward.objects.get(promotion__code="floating").bands == FLOATING
    snapshot_invalidate()
    answer = calculate_answer(world.terminal, _sale(world, "X", "499.99"))
    # -3 % (nothing spent before: the first band) leaves 484.99; 7 % of it in points
    assert (answer["discount"], answer["points_earned"]) == ("15.00", "33.95")


def test_bands_without_upper_bounds_or_value_are_read(world):
    _floating(world)
    document = _export()
    reward = document["promotions"][1]["rewards"][0]
    reward["value"] = None
    reward["bands"] = [{"from": "0", "value": "2"}, {"from": "50.50", "value": "4"}]
    promotions_import(document)
    saved = Reward.objects.get(promotion__code="floating")
    assert (saved.value, saved.bands) == (D("2"), [
        {"from": "0", "value": "2"}, {"from": "50.5", "value": "4"}
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("bands", "path", "message"),
    [
        (
            [{"from": "0", "to": "90", "value": "5"}, {"from": "100", "value": "7"}],
            "bands[0].to",
            "a gap: nothing from 90 up to 100",
        ),
        (
            [{"from": "0", "to": "150", "value": "5"}, {"from": "100", "value": "7"}],
            "bands[0].to",
            "overlaps the next band, which starts at 100",
        ),
        ([{"from": "0", "to": "100", "value": "5"}], "bands[0].to", "the last band has no upper"),
        ([{"from": 0.5, "value": "5"}], "bands[0].from", "give a decimal as a string"),
        (["0: 5"], "bands[0]", "must be {"),
        ("0: 5", "bands", "must be a list of bands"),
        (
            [{"from": "100", "value": "7"}, {"from": "0", "value": "5"}],
            "bands",
            "Band 2 starts at 0, below band 1",
        ),
    ],
)
def test_bad_bands_in_a_document_change_nothing(world, bands, path, message):
    _floating(world)
    document = _export()
    before = copy.deepcopy(document)
    document["promotions"][1]["rewards"][0]["bands"] = bands
    document["promotions"][1]["name"] = "Renamed"
    with translation.override("en"), pytest.raises(ImportFailed) as caught:
        promotions_import(document)
    assert any(
        found.endswith(f"rewards[0].{path}") and text.startswith(message)
        for found, text in caught.value.errors
    ), caught.value.errors
    assert _export()["promotions"] == before["promotions"]


def test_a_kind_without_bands_in_a_document_is_refused(world):
    _floating(world)
    document = _export()
    document["promotions"][1]["rewards"][0].update(kind="coupon", coupon_series="NEXT")
    with translation.override("en"), pytest.raises(ImportFailed) as caught:
        promotions_import(document)
    assert any("cannot have bands" in text for _path, text in caught.value.errors)


# --- the history of versions ------------------------------------------------------------------


def test_the_history_shows_bands_on_one_line(world):
    floating = _floating(world)
    old = promotions_export([floating])["promotions"][0]
    new = copy.deepcopy(old)
    new["rewards"][0]["bands"][1]["value"] = "8"
    with translation.override("en"):
        (row,) = change_rows(version_diff(old, new))
    assert (row.where, row.what) == ("reward 1", "bands")
    assert row.old == "from 0: 5; from 100: 7; from 500: 10"
    assert row.new == "from 0: 5; from 100: 8; from 500: 10"
    # a version saved before bands existed reads as "no bands", not as a change
    older = copy.deepcopy(old)
    for key in ("band_basis", "band_counter", "bands"):
        older["rewards"][0].pop(key)
    plain = copy.deepcopy(old)
    plain["rewards"][0].update(band_basis=None, bands=[])
    assert version_diff(older, plain) == []


# --- the admin --------------------------------------------------------------------------------


def test_the_admin_adds_a_banded_promotion(world, admin_client):
    add = reverse("admin:promotions_promotion_add")
    data = admin_form_data(admin_client.get(add, {"programme": world.programme.pk}))
    data.update({
        "name": "Floating", "code": "floating-admin", "status": "active",
        "rewards-0-kind": "points_percent", "rewards-0-value": "",
        "rewards-0-band_basis": "receipt_amount",
        "rewards-0-bands": "0: 5\n100: 7 %\n500,00: 10\n",
        "rewards-0-currency": world.currency.pk, "rewards-0-activation_delay_days": "0",
        "conditions-TOTAL_FORMS": "0",
    })  # fmt: skip
    with translation.override("en"):
        response = admin_client.post(add, data)
    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][1].formset.forms
    ]
    reward = Reward.objects.get(promotion__code="floating-admin")
    assert (reward.value, reward.bands) == (D("5"), FLOATING)
    snapshot_invalidate()
    assert calculate_answer(world.terminal, _sale(world, "A", "500.00"))["points_earned"] == "50.00"


def test_the_admin_changes_bands_and_refuses_wrong_ones(world, admin_client):
    floating = _floating(world)
    change = reverse("admin:promotions_promotion_change", args=[floating.pk])
    page = admin_client.get(change)
    assert "0: 5\n100: 7\n500: 10" in page.content.decode()
    data = admin_form_data(page)
    data["rewards-0-bands"] = "0: 5\n200: 8\n500: 10"
    assert admin_client.post(change, data).status_code == 302
    assert Reward.objects.get(promotion=floating).bands[1] == {"from": "200", "value": "8"}
    assert floating.versions.order_by("-number").first().data["rewards"][0]["bands"][1] == {
        "from": "200",
        "to": "500",
        "value": "8",
    }
    # when: unsorted, and a line that is no band
    for text, message in (
        ("0: 5\n500: 10\n200: 8", "Band 3 starts at 200, below band 2 (from 500)"),
        ("0: 5\n200 8", "Line 2: write a band as its lower bound, a colon and its value"),
    ):
        data["rewards-0-bands"] = text
        with translation.override("en"):
            response = admin_client.post(change, data, HTTP_ACCEPT_LANGUAGE="en")
        # then the page says what is wrong, and nothing changed
        assert response.status_code == 200
        assert message in response.content.decode()
        assert Reward.objects.get(promotion=floating).bands[1] == {"from": "200", "value": "8"}


def test_the_admin_offers_only_counters_of_money_spent_of_the_programme(world, admin_client):
    spent = CounterFactory(programme=world.programme, unit=Counter.Unit.AMOUNT)
    CounterFactory(programme=world.programme, unit=Counter.Unit.PURCHASES)
    CounterFactory(programme=ProgrammeFactory(code="other"), unit=Counter.Unit.AMOUNT)
    floating = _floating(world)
    page = admin_client.get(reverse("admin:promotions_promotion_change", args=[floating.pk]))
    rewards = next(
        inline.formset
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.prefix == "rewards"
    )
    assert list(rewards.forms[0].fields["band_counter"].queryset) == [spent]
