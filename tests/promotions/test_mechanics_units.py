"""Mechanics on units and blocks (issue 12, item 16), with the worked numbers of
docs/marketer-guide.md and docs/mechanics-units.md:

- a price for a set of N units ("3 yogurts for 99.00"): reward ``bundle_price``;
- a fixed amount off each unit ("10.00 off each coffee"): reward ``discount_per_unit``;
- a reward on at most N units of a receipt: ``max_units`` on a reward given unit by unit;
- points spent in blocks of N only: ``spend_block`` of the currency.

Each through ``calculate`` and ``confirm``, the pure engine, the simulator, the back-test, the
exchange format and the builder's validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import Account
from loyalty.money import ZERO, line_amount
from processing.sale import PurchaseLine, PurchaseRequest
from processing.simulator import simulate
from promotions.backtest import backtest_evaluate
from promotions.engine import evaluate
from promotions.engine.types import (
    CurrencyRule,
    CustomerFacts,
    LineInput,
    ProductSetRule,
    ProgrammeRule,
    PromotionRule,
    ReceiptContext,
    RewardRule,
    RulesSnapshot,
)
from promotions.exchange import ImportFailed, promotions_export, promotions_import
from promotions.models import Condition, ProductSet, Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer
from tests.promotions.admin_forms import admin_form_data

D = Decimal


@pytest.fixture
def world(db):
    """A programme without its base promotion; yogurts Y40, Y45, Y38, Y30 and C50 (a set
    "Yogurts"), coffees COFFEE and CHEAP (a set "Coffee"), and BREAD outside both."""
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    yogurts = [ProductFactory(sku=sku, partner=None) for sku in ("Y40", "Y45", "Y38", "Y30", "C50")]
    coffees = [ProductFactory(sku=sku, partner=None) for sku in ("COFFEE", "CHEAP")]
    ProductFactory(sku="BREAD", partner=None)
    world.yogurts = product_set(world, "Yogurts", products=yogurts)
    world.coffee = product_set(world, "Coffee", products=coffees)
    snapshot_invalidate()
    return world


def _sale(world, receipt_id, lines, **kw) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=kw.pop("card", world.card.number),
        lines=tuple(
            PurchaseLine(line_no=n, sku=sku, quantity=D(str(q)), price=D(price))
            for n, (sku, q, price) in enumerate(lines, start=1)
        ),
        **kw,
    )


def _both(world, receipt_id, lines, **kw) -> dict:
    """calculate, then confirm: the same numbers; returns confirm's answer."""
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "lines"):
        assert calculated[key] == confirmed[key], key
    assert calculated["messages"] == confirmed["messages"]
    return confirmed


def _discounts(answer) -> list[str]:
    return [line["discount"] for line in answer["lines"]]


def _three_for_99(world, max_units=None, **fields):
    """ "3 yogurts for 99.00" (``fields``: the promotion's)."""
    return promotion(
        world,
        "3 yogurts for 99.00",
        cashier_message="3 yogurts for 99!",
        rewards=[
            {
                "kind": "bundle_price",
                "value": "99.00",
                "every_n": 3,
                "product_set": world.yogurts,
                "max_units": max_units,
            }
        ],
        **fields,
    )


# -- 1. a price for a set ---------------------------------------------------------------------


def test_3_for_99_prices_each_complete_set(world, assert_ledger_consistent):
    _three_for_99(world)
    # 7 yogurts at 40.00: two sets of 3 cost 99.00 each (2 x 21.00 off), the 7th pays 40.00
    answer = _both(world, "R1", [("Y40", 7, "40.00"), ("BREAD", 1, "30.00")])
    assert answer["discount"] == "42.00"
    assert _discounts(answer) == ["42.00", "0.00"]
    assert answer["to_pay"] == "268.00"  # 2 x 99.00 + 40.00 + 30.00
    assert answer["messages"] == ["3 yogurts for 99!"]
    # 2 yogurts make no set
    assert _both(world, "R2", [("Y40", 2, "40.00")])["discount"] == "0.00"
    assert_ledger_consistent()


def test_a_set_takes_the_cheapest_units_and_spreads_its_discount_to_the_kopeck(world):
    _three_for_99(world)
    # units 38, 38, 45, 45, 50: the set is 38 + 38 + 45 = 121.00 -> 22.00 off, spread over B's
    # 76.00 and A's 45.00 by largest remainder: 13.82 + 8.18; the other 45 and the 50 pay in full
    lines = [("Y45", 2, "45.00"), ("Y38", 2, "38.00"), ("C50", 1, "50.00"), ("BREAD", 1, "30.00")]
    answer = _both(world, "R1", lines)
    assert _discounts(answer) == ["8.18", "13.82", "0.00", "0.00"]
    assert answer["discount"] == "22.00"
    # the set costs exactly 99.00: 76.00 - 13.82 + 45.00 - 8.18
    assert D("76.00") - D("13.82") + D("45.00") - D("8.18") == D("99.00")


def test_a_set_already_cheaper_than_its_price_gives_nothing(world):
    _three_for_99(world)
    answer = _both(world, "R1", [("Y30", 3, "30.00")])  # 90.00 < 99.00: never more to pay
    assert (answer["discount"], answer["to_pay"], answer["messages"]) == ("0.00", "90.00", [])
    # one set below the price, one above: only the dearer one is discounted
    answer = _both(world, "R2", [("Y30", 3, "30.00"), ("Y40", 3, "40.00")])
    assert _discounts(answer) == ["0.00", "21.00"]


def test_at_most_6_units_in_sets(world):
    _three_for_99(world, max_units=6)
    answer = _both(world, "R1", [("Y40", 9, "40.00")])  # 3 sets, 2 of them priced
    assert answer["discount"] == "42.00"


# -- 2. a fixed amount off each unit -----------------------------------------------------------


def test_10_off_each_unit_never_below_zero(world, assert_ledger_consistent):
    promotion(
        world,
        "10.00 off each coffee",
        rewards=[{"kind": "discount_per_unit", "value": "10.00", "product_set": world.coffee}],
    )
    # 3 x 25.00 -> 30.00 off; 2 x 8.00 -> 16.00 off (8.00 each, never below zero); bread none
    lines = [("COFFEE", 3, "25.00"), ("CHEAP", 2, "8.00"), ("BREAD", 1, "30.00")]
    answer = _both(world, "R1", lines)
    assert _discounts(answer) == ["30.00", "16.00", "0.00"]
    assert answer["to_pay"] == "75.00"
    # weighed coffee: 1.5 kg at 20.00 -> 15.00 off
    assert _both(world, "R2", [("COFFEE", "1.5", "20.00")])["discount"] == "15.00"
    # the programme's minimum money payment (1.00) still holds: 5.00 -> 4.00 off
    answer = _both(world, "R3", [("CHEAP", 1, "5.00")])
    assert (answer["discount"], answer["to_pay"]) == ("4.00", "1.00")
    assert_ledger_consistent()


def test_an_amount_off_each_unit_respects_the_cap_per_receipt(world):
    promotion(
        world,
        "10.00 off each coffee, at most 25.00 a receipt",
        max_per_receipt=D("25.00"),
        rewards=[{"kind": "discount_per_unit", "value": "10.00", "product_set": world.coffee}],
    )
    answer = _both(world, "R1", [("COFFEE", 3, "25.00")])
    assert answer["discount"] == "25.00"


# -- 3. at most N units -------------------------------------------------------------------------


def test_at_most_2_units_take_the_cheapest(world):
    promotion(
        world,
        "-50 % on at most 2 units",
        rewards=[{"kind": "discount_percent", "value": 50, "max_units": 2}],
    )
    # the cheapest 2 units: BREAD 60.00 and one COFFEE 100.00: 80.00 off, 30.00 + 50.00
    answer = _both(world, "R1", [("COFFEE", 3, "100.00"), ("BREAD", 1, "60.00")])
    assert _discounts(answer) == ["50.00", "30.00"]


def test_at_most_2_units_of_an_amount_off_each_and_of_every_nth(world):
    per_unit = promotion(
        world,
        "10.00 off at most 2 coffees",
        rewards=[
            {
                "kind": "discount_per_unit",
                "value": "10.00",
                "product_set": world.coffee,
                "max_units": 2,
            }
        ],
    )
    # the 2 cheapest units are the CHEAP ones (8.00 each): 16.00, not 20.00
    answer = _both(world, "R1", [("COFFEE", 3, "25.00"), ("CHEAP", 2, "8.00")])
    assert _discounts(answer) == ["0.00", "16.00"]
    Promotion.objects.filter(pk=per_unit.pk).update(status=Promotion.Status.FINISHED)
    promotion(
        world,
        "every 2nd free, at most 1",
        rewards=[{"kind": "every_nth", "value": 100, "every_n": 2, "max_units": 1}],
    )
    # units 10, 8, 6, 4: every 2nd free would be the 4.00 and 6.00; at most 1: the 4.00
    lines = [("A", 1, "10.00"), ("B", 1, "8.00"), ("C", 1, "6.00"), ("D", 1, "4.00")]
    assert _discounts(_both(world, "R2", lines)) == ["0.00", "0.00", "0.00", "4.00"]


def test_points_on_at_most_1_unit_and_a_weighed_line_is_one_unit(world, assert_ledger_consistent):
    promotion(
        world,
        "10 % points on 1 unit",
        rewards=[{"kind": "points_percent", "value": 10, "max_units": 1}],
    )
    answer = _both(world, "R1", [("A", 2, "50.00"), ("B", 1, "30.00")])
    assert [line["points_earned"] for line in answer["lines"]] == ["0.00", "3.00"]
    # 0.5 kg of cheese for 50.00 is one unit, cheaper than the 60.00 one: 5.00 on it
    answer = _both(world, "R2", [("CHEESE", "0.5", "100.00"), ("B", 1, "60.00")])
    assert [line["points_earned"] for line in answer["lines"]] == ["5.00", "0.00"]
    assert_ledger_consistent()


# -- 4. points spent in blocks ------------------------------------------------------------------


def _credit(world, points: str) -> None:
    gift = promotion(world, "credit", rewards=[{"kind": "points_fixed", "value": points}])
    confirm_answer(world.terminal, _sale(world, "CREDIT", [("BREAD", 1, "1.00")]))
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    snapshot_invalidate()


def test_points_are_spent_in_blocks_of_100(world, assert_ledger_consistent):
    _credit(world, "1150")
    world.currency.spend_block = 100
    world.currency.save()
    with translation.override("en"):
        # 50 % of 1000.00 is 500: a multiple of 100, spent as it is, nothing to say
        whole = _both(world, "R1", [("BREAD", 1, "1000.00")], spend_points="max")
        assert (whole["points_spent"], whole["messages"]) == ("500.00", [])
        # 650 left; 50 % of 999.00 is 499.50: 400 in blocks of 100, and the cashier is told
        cut = _both(world, "R2", [("BREAD", 1, "999.00")], spend_points="max")
        assert (cut["points_spent"], cut["to_pay"]) == ("400.00", "599.00")
        assert cut["messages"] == ["Points are spent in blocks of 100: 400 spent on this receipt."]
        # 250 left: asking for all 250 spends 200
        asked = _both(world, "R3", [("BREAD", 1, "1000.00")], spend_points=D("250"))
        assert (asked["points_spent"], asked["to_pay"]) == ("200.00", "800.00")
        # 50 left: no whole block, nothing spent
        none = _both(world, "R4", [("BREAD", 1, "1000.00")], spend_points="max")
        assert (none["points_spent"], none["to_pay"]) == ("0.00", "1000.00")
        assert none["messages"] == ["Points are spent in blocks of 100: 0 spent on this receipt."]
    account = Account.objects.get(customer=world.customer, currency=world.currency)
    assert account.balance == D("50")  # 1150 - 500 - 400 - 200 (no promotion earns here)
    assert_ledger_consistent()


# -- the pure engine ----------------------------------------------------------------------------

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROGRAMME = ProgrammeRule(
    id=1,
    max_spend_percent=D("50"),
    min_money_payment=D("1.00"),
    offline_spend_cap=D("0"),
    main_currency_id=1,
)


def _engine(rewards, lines, *, block=None, spend=None, available="0", customer=True):
    rule = PromotionRule(
        id=1,
        name="P",
        programme_id=1,
        partner_id=None,
        status="active",
        priority=0,
        starts_at=AT - timedelta(days=1),
        ends_at=None,
        rewards=tuple(rewards),
    )
    currency = CurrencyRule(
        id=1, code="bonus", decimal_places=2, rub_rate=D("1"), spend_block=block
    )
    snapshot = RulesSnapshot(
        version="t",
        programmes={1: PROGRAMME},
        currencies={1: currency},
        promotions=(rule,) if rewards else (),
        counters=(),
    )
    ctx = ReceiptContext(
        programme_id=1,
        partner_id=1,
        store_id=1,
        terminal_id=1,
        channel="store",
        at=AT,
        local_date=date(2026, 3, 10),
        lines=tuple(
            LineInput(n, f"S{n}", D(q), D(p), line_amount(D(q), D(p)), product_id=n)
            for n, (q, p) in enumerate(lines, start=1)
        ),
        customer=CustomerFacts(id=1) if customer else None,
        spend_requested=spend,
        points_available=D(available),
    )
    return evaluate(snapshot, ctx)


def _reward(kind, value, **kw):
    return RewardRule(1, kind, D(value), kw.pop("currency_id", None), timedelta(0), None, **kw)


def test_the_engine_bundle_with_a_product_set_and_without():
    only_1_and_2 = ProductSetRule(id=1, product_ids=frozenset({1, 2}))
    bundle = _reward("bundle_price", "99.00", every_n=3, product_set=only_1_and_2)
    result = _engine([bundle], [("2", "45.00"), ("2", "38.00"), ("1", "50.00")])
    # line 3 is not in the set: 4 units, one set 38 + 38 + 45
    assert [line.discount for line in result.lines] == [D("8.18"), D("13.82"), D("0.00")]
    assert result.discounts[0].amount == D("22.00")
    whole = _reward("bundle_price", "99.00", every_n=3)
    result = _engine([whole], [("2", "45.00"), ("2", "38.00"), ("1", "50.00")])
    assert result.discount == D("22.00")  # still one set of the 5 units: the cheapest 3


def test_the_engine_spends_in_blocks_without_a_message_when_none_is_given():
    result = _engine([], [("1", "999.00")], block=100, spend="max", available="800")
    assert (result.spent_points, result.points_spent, result.messages) == (
        D("400"),
        D("400.00"),
        [],
    )
    assert sum(line.points_spent for line in result.lines) == result.points_spent


amounts = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)
unit_rewards = st.one_of(
    st.builds(
        lambda value, n, cap: _reward("bundle_price", value, every_n=n, max_units=cap),
        amounts,
        st.integers(2, 4),
        st.one_of(st.none(), st.integers(4, 9)),
    ),
    st.builds(
        lambda value, cap: _reward("discount_per_unit", value, max_units=cap),
        amounts,
        st.one_of(st.none(), st.integers(1, 5)),
    ),
    st.builds(
        lambda kind, value, cap: _reward(kind, value, max_units=cap),
        st.sampled_from(["discount_percent", "special_price"]),
        st.decimals(min_value=D("1"), max_value=D("100"), places=0),
        st.integers(1, 5),
    ),
    st.builds(
        lambda value, cap: _reward("points_percent", value, max_units=cap, currency_id=1),
        st.decimals(min_value=D("1"), max_value=D("100"), places=0),
        st.integers(1, 5),
    ),
)
receipt_lines = st.lists(
    st.tuples(
        st.one_of(
            st.integers(1, 7).map(str),
            st.decimals(min_value=D("0.001"), max_value=D("3"), places=3).map(str),
        ),
        st.decimals(min_value=D("0"), max_value=D("300"), places=2).map(str),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rewards=st.lists(unit_rewards, min_size=1, max_size=2),
    lines=receipt_lines,
    block=st.one_of(st.none(), st.integers(1, 300)),
    available=amounts,
)
def test_the_numbers_add_up_with_sets_units_and_blocks(rewards, lines, block, available):
    result = _engine(rewards, lines, block=block, spend="max", available=str(available))
    assert sum((x.discount for x in result.lines), ZERO) == result.discount
    assert sum((x.points_spent for x in result.lines), ZERO) == result.points_spent
    assert result.to_pay == result.total - result.discount - result.points_spent
    for line in result.lines:
        assert line.discount >= 0
        assert line.to_pay >= 0
    for award in [*result.awards, *result.discounts]:
        assert sum(award.per_line.values(), ZERO) == award.amount
    if block is not None:
        assert result.spent_points % block == 0
    limits = [r.max_units for r in rewards if r.kind == "discount_per_unit" and r.max_units]
    whole_units = all(D(quantity) == D(quantity).to_integral_value() for quantity, _p in lines)
    if limits and len(rewards) == 1 and whole_units:
        # At most N units: at most N amounts off. A weighed line counts as one unit but takes
        # the amount off each kilogram of it (1.5 kg: 1.5 amounts, rounded), so only receipts
        # of whole units are bounded this simply.
        assert result.discount <= limits[0] * rewards[0].value


# -- the simulator and the back-test ------------------------------------------------------------


def test_the_simulator_tries_a_draft_bundle_and_shows_the_blocks(world):
    draft = _three_for_99(world, status=Promotion.Status.DRAFT)
    lines = [PurchaseLine(1, "Y40", D("6"), D("40.00")), PurchaseLine(2, "BREAD", D("1"), D("1"))]
    without = simulate(terminal=world.terminal, lines=lines, card=world.card.number)
    assert without.answer["discount"] == "0.00"
    tried = simulate(
        terminal=world.terminal, lines=lines, card=world.card.number, drafts=[draft.pk]
    )
    assert tried.answer["discount"] == "42.00"
    assert [line["discount"] for line in tried.lines] == ["42.00", "0.00"]
    _credit(world, "500")
    world.currency.spend_block = 100
    world.currency.save()
    with translation.override("en"):
        spent = simulate(
            terminal=world.terminal,
            lines=lines,
            card=world.card.number,
            drafts=[draft.pk],
            spend_points="max",
        )
    # 199.00 to pay after the sets, 50 % of it is 99.50: no whole block of 100 fits
    assert spent.answer["points_spent"] == "0.00"
    assert spent.answer["messages"][-1].startswith("Points are spent in blocks of 100")


@pytest.mark.usefixtures("celery_eager")
def test_the_back_test_counts_a_bundle_and_an_amount_off_each_unit(world):
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.ACTIVE)
    snapshot_invalidate()  # the base 5 % runs again
    day0 = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 -= timedelta(days=10)
    for n, lines in enumerate(
        [
            [("Y40", 7, "40.00")],  # two sets: 42.00 off
            [("Y30", 3, "30.00")],  # below the set price: nothing
            [("COFFEE", 3, "25.00"), ("BREAD", 1, "10.00")],
        ],
        start=1,
    ):
        confirm_answer(
            world.terminal, _sale(world, f"H{n}", lines, sold_at=day0 + timedelta(days=n))
        )
    bundle = _three_for_99(world, status=Promotion.Status.DRAFT)
    figures = backtest_evaluate(promotion=bundle, since=day0, until=day0 + timedelta(days=7))
    assert figures.receipts_examined == 3
    assert (figures.receipts_fired, figures.discount_amount) == (1, D("42.00"))
    # the base 5 % earns on 238.00 instead of 280.00: 2.10 less
    assert figures.points_worth_change == D("-2.10")
    assert figures.net_change == D("39.90")
    per_unit = promotion(
        world,
        "10.00 off at most 2 coffees",
        status=Promotion.Status.DRAFT,
        rewards=[
            {
                "kind": "discount_per_unit",
                "value": "10.00",
                "product_set": world.coffee,
                "max_units": 2,
            }
        ],
    )
    figures = backtest_evaluate(promotion=per_unit, since=day0, until=day0 + timedelta(days=7))
    assert (figures.receipts_fired, figures.discount_amount) == (1, D("20.00"))


# -- the exchange format and the builder ---------------------------------------------------------


def test_the_new_rewards_go_through_the_format(world):
    _three_for_99(world, max_units=6, code="yog3")
    promotion(world, "10 off coffee", code="coffee10", rewards=[
        {"kind": "discount_per_unit", "value": "10.00", "product_set": world.coffee,
         "max_units": 2},
        {"kind": "points_percent", "value": 10, "max_units": 1},
    ])  # fmt: skip
    lines = [("Y40", 7, "40.00"), ("COFFEE", 3, "25.00"), ("CHEAP", 1, "12.00")]
    before = calculate_answer(world.terminal, _sale(world, "B", lines))
    chosen = Promotion.objects.filter(code__in=["yog3", "coffee10"]).order_by("pk")
    document = json.loads(json.dumps(promotions_export(chosen)))
    rewards = {p["code"]: p["rewards"] for p in document["promotions"]}
    assert (rewards["yog3"][0]["kind"], rewards["yog3"][0]["value"]) == ("bundle_price", "99")
    assert (rewards["yog3"][0]["every_n"], rewards["yog3"][0]["max_units"]) == (3, 6)
    assert [(r["kind"], r["max_units"]) for r in rewards["coffee10"]] == [
        ("discount_per_unit", 2),
        ("points_percent", 1),
    ]
    # imported into an empty programme, it gives the same numbers and exports the same
    Reward.objects.all().delete()
    Condition.objects.all().delete()
    Promotion.objects.exclude(pk=world.promotion.pk).delete()
    ProductSet.objects.all().delete()
    snapshot_invalidate()
    promotions_import(document)
    snapshot_invalidate()
    after = calculate_answer(world.terminal, _sale(world, "A", lines))
    for key in ("discount", "to_pay", "points_earned", "lines"):
        assert after[key] == before[key], key
    # 42.00 for the sets + 10.00 off each of the 2 cheapest coffees (the 12.00 and a 25.00);
    # 10 % points on the cheapest unit left to pay: the 2.00 coffee
    assert (after["discount"], after["points_earned"]) == ("62.00", "0.20")
    chosen = Promotion.objects.filter(code__in=["yog3", "coffee10"]).order_by("pk")
    again = json.loads(json.dumps(promotions_export(chosen)))
    assert again["promotions"] == document["promotions"]
    assert again["product_sets"] == document["product_sets"]
    # a document written before max_units existed reads as "every unit"
    del document["promotions"][0]["rewards"][0]["max_units"]
    promotions_import(document)
    assert Reward.objects.get(promotion__code="yog3").max_units is None


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"max_units": "2"}, "rewards[0].max_units"),
        ({"max_units": 0}, "rewards[0].max_units"),
        ({"max_units": 2}, "rewards[0].max_units"),  # fewer than the 3 units of a set
        ({"every_n": None}, "rewards[0].every_n"),
        ({"value": "99.005"}, "rewards[0].value"),
        ({"kind": "discount_fixed", "max_units": 3}, "rewards[0].max_units"),
    ],
)
def test_a_document_with_a_wrong_unit_field_changes_nothing(world, change, where):
    _three_for_99(world, code="yog3")
    document = json.loads(json.dumps(promotions_export(Promotion.objects.filter(code="yog3"))))
    document["promotions"][0]["rewards"][0].update(change)
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert any(where in path for path, _message in failure.value.errors), failure.value.errors


def _errors(reward) -> dict:
    with pytest.raises(ValidationError) as failure:
        reward.full_clean()
    return failure.value.message_dict


def test_the_builder_explains_what_is_wrong(world):
    base = world.promotion
    with translation.override("en"):
        bundle = Reward(promotion=base, kind="bundle_price", value=D("99.00"))
        assert "units in a set" in _errors(bundle)["every_n"][0]
        bundle.every_n, bundle.value = 3, D("99.005")
        assert "2 decimal places" in _errors(bundle)["value"][0]
        bundle.value, bundle.max_units = D("99.00"), 2
        assert "one set (3)" in _errors(bundle)["max_units"][0]
        fixed = Reward(promotion=base, kind="discount_fixed", value=D("100"), max_units=2)
        assert "unit by unit" in _errors(fixed)["max_units"][0]
        per_unit = Reward(promotion=base, kind="discount_per_unit", value=D("10"), max_units=2)
        per_unit.full_clean()


def test_the_admin_edits_a_bundle_with_its_limit(world, admin_client):
    bundle = _three_for_99(world)
    change = reverse("admin:promotions_promotion_change", args=[bundle.pk])
    page = admin_client.get(change)
    assert b"a price for a set of N units" in page.content
    data = admin_form_data(page)
    data["rewards-0-max_units"] = "6"
    assert admin_client.post(change, data).status_code == 302
    assert bundle.rewards.get().max_units == 6
    assert bundle.versions.order_by("-number").first().data["rewards"][0]["max_units"] == 6
    data["rewards-0-max_units"] = "2"
    with translation.override("en"):
        page = admin_client.post(change, data, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "At least the units of one set (3)" in page.content.decode()
    assert bundle.rewards.get().max_units == 6
