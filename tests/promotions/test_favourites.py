"""Rewards on "only the customer's favourite products" (mechanics.md, item 20) beyond the worked
example of test_mechanics: with a product set, the reasons when nothing is given, the receipt's
programme only, the favourites loaded only when a promotion reads them (in one round trip on
the SQL path), the simulator, the back-test, the versions of offline receipts, the builder's
validation and warnings."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from processing.sale import PurchaseLine, PurchaseRequest
from processing.simulator import REASONS, simulate
from promotions.backtest import backtest_evaluate
from promotions.exchange import promotion_data, version_record
from promotions.models import Promotion, PromotionVersion, Reward
from promotions.rules.history import _Lookups, rule_from_data
from promotions.rules.snapshot import snapshot_get, snapshot_invalidate
from promotions.warnings import promotion_warnings
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CategoryFactory,
    CurrencyFactory,
    ProductFactory,
    ProgrammeFactory,
    favourites,
)
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import (
    calculate_answer,
    confirm_answer,
    offline_answers,
    preview_answer,
)
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    """A programme without the base promotion; dairy products MILK and KEFIR, bread BREAD;
    the customer's favourites are MILK and BREAD."""
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    dairy = CategoryFactory(code="dairy")
    world.milk = ProductFactory(sku="MILK", partner=None, category=dairy)
    world.kefir = ProductFactory(sku="KEFIR", partner=None, category=dairy)
    world.bread = ProductFactory(sku="BREAD", partner=None)
    world.dairy = product_set(world, "Dairy", categories=[dairy])
    favourites(world.customer, world.programme, [world.milk, world.bread])
    return world


def _request(world, receipt_id, lines, card="default") -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number if card == "default" else card,
        lines=tuple(
            PurchaseLine(n, sku, D(quantity), D(price))
            for n, (sku, quantity, price) in enumerate(lines, start=1)
        ),
    )


LINES = [("MILK", "1", "100.00"), ("KEFIR", "1", "100.00"), ("BREAD", "1", "100.00")]


def test_favourites_within_a_product_set(world, assert_ledger_consistent):
    # given "-10 % on your favourite dairy": MILK is a favourite and dairy, KEFIR only dairy,
    # BREAD only a favourite
    promotion(
        world,
        "-10% on your favourite dairy",
        rewards=[
            {
                "kind": "discount_percent",
                "value": 10,
                "product_set": world.dairy,
                "favourites_only": True,
            }
        ],
    )
    # when
    answer = confirm_answer(world.terminal, _request(world, "R1", LINES))
    # then
    assert [line["discount"] for line in answer["lines"]] == ["10.00", "0.00", "0.00"]
    assert_ledger_consistent()


def test_the_reasons_when_a_favourites_reward_gives_nothing(world):
    # given
    names = {}
    for name, kind in (
        ("5% on your favourites", "points_percent"),
        ("-10% on your favourites", "discount_percent"),
    ):
        made = promotion(world, name, rewards=[{"kind": kind, "value": 5, "favourites_only": True}])
        names[made.pk] = name
    # when a receipt of the customer holds no favourite, and one without a customer holds one
    kefir = [PurchaseLine(1, "KEFIR", D("1"), D("50.00"))]
    no_favourite = simulate(terminal=world.terminal, lines=kefir, card=world.card.number)
    anonymous, result = preview_answer(
        world.terminal, _request(world, "A1", [("MILK", "1", "50.00")], card=None)
    )
    # then
    with translation.override("en"):
        reasons = {name: str(why) for _pid, name, why in no_favourite.blocked}
        assert reasons["5% on your favourites"] == (
            "none of its lines is one of the customer's favourite products"
        )
        assert reasons["-10% on your favourites"] == reasons["5% on your favourites"]
        reasons = {names[p]: str(REASONS[why]) for p, why in result.blocked if p in names}
        assert reasons["5% on your favourites"] == "points need a customer"
        assert reasons["-10% on your favourites"] == "favourite products need a known customer"
    assert anonymous["discount"] == "0.00"


def test_a_coupon_for_favourites_only_needs_a_favourite_on_the_receipt(world):
    # given "a coupon for your next purchase when you buy one of your favourites"
    made = promotion(world, "Coupon for a favourite", rewards=[
        {"kind": "coupon", "value": 1, "coupon_series": "NEXT10", "favourites_only": True}
    ])  # fmt: skip
    # when
    _answer, with_milk = preview_answer(world.terminal, _request(world, "R1", LINES[:1]))
    _answer, with_kefir = preview_answer(world.terminal, _request(world, "R2", LINES[1:2]))
    # then
    assert [(c.promotion_id, c.series) for c in with_milk.coupons_issued] == [(made.pk, "NEXT10")]
    assert with_kefir.coupons_issued == []
    assert dict(with_kefir.blocked)[made.pk] == "no_favourites"


def test_only_the_favourites_of_the_receipts_programme_count(world):
    # given KEFIR is a favourite of the customer in another programme only
    other = ProgrammeFactory(code="other", name="Other")
    CurrencyFactory(programme=other, code="other-bonus")
    favourites(world.customer, other, [world.kefir])
    promotion(
        world,
        "5% on your favourites",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    # when
    answer = calculate_answer(world.terminal, _request(world, "R1", LINES))
    # then MILK and BREAD earn; KEFIR, a favourite elsewhere, does not
    assert [line["points_earned"] for line in answer["lines"]] == ["5.00", "0.00", "5.00"]


def _reads_favourites(world, receipt_id) -> bool:
    with CaptureQueriesContext(connection) as queries:
        calculate_answer(world.terminal, _request(world, receipt_id, LINES))
    return any("loyalty_favouriteproduct" in q["sql"] for q in queries.captured_queries)


def test_favourites_are_read_only_when_a_promotion_rewards_them(world):
    promotion(world, "5%", rewards=[{"kind": "points_percent", "value": 5}])
    assert "favourites" not in snapshot_get().needs
    assert not _reads_favourites(world, "R1")
    promotion(
        world,
        "5% on your favourites",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    assert "favourites" in snapshot_get().needs
    assert _reads_favourites(world, "R2")


@pytest.mark.postgres
def test_the_sql_path_reads_favourites_in_its_one_round_trip(world, settings):
    settings.POS_SQL_PATH = True
    promotion(
        world,
        "5% on your favourites",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    calculate_answer(world.terminal, _request(world, "W-0", LINES))  # compiles the rules
    with CaptureQueriesContext(connection) as calc:
        answer = calculate_answer(world.terminal, _request(world, "W-1", LINES))
    assert len(calc.captured_queries) == 1
    assert "loyalty_favouriteproduct" in calc.captured_queries[0]["sql"]
    assert [line["points_earned"] for line in answer["lines"]] == ["5.00", "0.00", "5.00"]


def test_the_simulator_sees_the_card_holders_favourites_or_described_ones(world, admin_client):
    draft = promotion(
        world,
        "5% on your favourites (draft)",
        status=Promotion.Status.DRAFT,
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    lines = [PurchaseLine(n, sku, D(q), D(p)) for n, (sku, q, p) in enumerate(LINES, start=1)]
    # a card: the holder's own favourites
    with_card = simulate(
        terminal=world.terminal, lines=lines, card=world.card.number, drafts=[draft.pk]
    )
    assert [line["points_earned"] for line in with_card.lines] == ["5.00", "0.00", "5.00"]
    # a described customer: the favourites given
    described = simulate(
        terminal=world.terminal,
        lines=lines,
        favourite_product_ids=[world.kefir.pk],
        drafts=[draft.pk],
    )
    assert [line["points_earned"] for line in described.lines] == ["0.00", "5.00", "0.00"]
    # the admin page takes SKUs, and names the ones it does not know
    url = reverse("admin:promotions_promotion_simulator")
    form = {
        "terminal": world.terminal.pk,
        "lines": "MILK 1 100.00\nKEFIR 1 100.00",
        "favourites": "KEFIR, MILK",
        "drafts": [draft.pk],
    }
    page = admin_client.post(url, form).content.decode()
    assert 'id="simulation-totals"' in page
    assert "10.00" in page  # 5 % of both lines
    with translation.override("en"):
        bad = admin_client.post(url, {**form, "favourites": "MILK NOPE"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "No product of the catalogue has the SKU “NOPE”." in bad.content.decode()


def test_the_backtest_rewards_the_favourites_the_customers_have_now(world):
    # given past receipts: the customer's (MILK and KEFIR) and another customer's (MILK)
    stranger = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)
    confirm_answer(world.terminal, _request(world, "P1", LINES[:2]))
    confirm_answer(world.terminal, _request(world, "P2", LINES[:1], card=stranger.number))
    draft = promotion(
        world,
        "-10% on your favourites",
        status=Promotion.Status.DRAFT,
        rewards=[{"kind": "discount_percent", "value": 10, "favourites_only": True}],
    )
    # when
    now = timezone.now()
    figures = backtest_evaluate(
        promotion=draft, since=now - timedelta(days=1), until=now + timedelta(minutes=1)
    )
    # then only the customer's MILK line is rewarded
    assert (figures.receipts_examined, figures.receipts_fired) == (2, 1)
    assert figures.discount_amount == D("10.00")
    assert figures.customers_reached == 1


def test_an_offline_receipt_is_rewarded_as_the_version_then_said(world):
    # given "5 % on your favourites" saved 10 days ago, widened to every product yesterday
    made = promotion(
        world,
        "5% on your favourites",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    assert promotion_data(made)["rewards"][0]["favourites_only"] is True
    Promotion.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=10))
    _saved(made, days_ago=10)
    Reward.objects.filter(promotion=made).update(favourites_only=False)
    _saved(made, days_ago=1)
    # when a receipt sold 3 days ago comes in, and one of now
    past = replace(_request(world, "OFF-1", LINES), sold_at=timezone.now() - timedelta(days=3))
    [item] = offline_answers(world.terminal, [past])
    now = confirm_answer(world.terminal, _request(world, "NOW-1", LINES))
    # then the past one earns on the favourites only, as the version in force then said
    lines = [line["points_earned"] for line in item["result"]["lines"]]
    assert lines == ["5.00", "0.00", "5.00"]
    assert now["points_earned"] == "15.00"
    # and a version saved before the flag existed reads as "every product"
    data = promotion_data(made)
    del data["rewards"][0]["favourites_only"]
    assert (
        rule_from_data(data, made.pk, _Lookups(snapshot_get())).rewards[0].favourites_only is False
    )


def _saved(made: Promotion, days_ago: float) -> PromotionVersion:
    version = version_record(made, source="admin")
    PromotionVersion.objects.filter(pk=version.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    snapshot_invalidate()
    return version


def test_a_multiplier_cannot_be_for_favourites_only(world):
    reward = Reward(
        promotion=world.promotion,
        kind=Reward.Kind.POINTS_MULTIPLIER,
        value=D(2),
        multiplier_of=promotion(world, "5%", rewards=[{"kind": "points_percent", "value": 5}]),
        currency=world.currency,
        favourites_only=True,
    )
    with pytest.raises(ValidationError) as failure:
        reward.full_clean()
    message = failure.value.message_dict["favourites_only"][0]
    assert "mark that promotion's reward “only the customer's favourite products”" in message
    with translation.override("ru"):
        with pytest.raises(ValidationError) as failure:
            reward.full_clean()
        assert "любимые товары" in failure.value.message_dict["favourites_only"][0]


def test_the_builder_ticks_favourites_on_a_reward_and_refuses_it_on_a_multiplier(
    world, admin_client
):
    # given a draft giving 5 % in points, and a multiplier of it, edited in the admin
    five = promotion(world, "5%", status="draft", rewards=[{"kind": "points_percent", "value": 5}])
    double = promotion(world, "x2", status="draft", rewards=[
        {"kind": "points_multiplier", "value": 2, "multiplier_of": five}
    ])  # fmt: skip
    # when the 5 % reward is ticked "only the customer's favourite products"
    change = reverse("admin:promotions_promotion_change", args=[five.pk])
    data = admin_form_data(admin_client.get(change))
    data["rewards-0-favourites_only"] = "on"
    assert admin_client.post(change, data).status_code == 302
    # then it is saved, and its version keeps it
    assert five.rewards.get().favourites_only is True
    assert five.versions.order_by("-number").first().data["rewards"][0]["favourites_only"]
    # when the multiplier is ticked too, the page says why not, in the marketer's words
    change = reverse("admin:promotions_promotion_change", args=[double.pk])
    data = admin_form_data(admin_client.get(change))
    data["rewards-0-favourites_only"] = "on"
    with translation.override("en"):
        page = admin_client.post(change, data, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "mark that promotion&#x27;s reward" in page.content.decode()
    assert double.rewards.get().favourites_only is False


def test_warnings_when_the_programme_keeps_no_favourites_or_none_are_ranked_yet(world):
    favourite = promotion(
        world,
        "5% on your favourites",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    with translation.override("en"):
        assert not [w for w in promotion_warnings(favourite) if "favourite" in w]
        world.programme.favourites_count = 0
        world.programme.save()
        favourite.refresh_from_db()
        (warning,) = [w for w in promotion_warnings(favourite) if "favourite" in w]
        assert "keeps none (favourite products per customer: 0)" in warning
        world.programme.favourites_count = 3
        world.programme.save()
        world.customer.favourite_products.all().delete()
        favourite.refresh_from_db()
        (warning,) = [w for w in promotion_warnings(favourite) if "favourite" in w]
        assert "no customer of the programme “City Bonus” has any yet" in warning
