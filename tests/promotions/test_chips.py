"""Chips (mechanics.md item 17, second half): collected on purchases, exchanged at the register
for a discount on a promo product, a coupon or a status, through calculate, confirm, cancel and
refund, with the ledger invariants after each scenario.

The world: the programme's main currency "bonus", and "chips" (no decimals, worth nothing at
the till: rub_rate 0). A purchase of at least 500.00 earns 5 chips. Three exchanges, each a
promotion with a price of 10 chips and a code the register names in ``exchanges``: MUG-50
(-50 % on the mug), COUPON-10 (a coupon for the next purchase) and GOLD (the Gold tier).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import (
    Account,
    Lot,
    Posting,
    ReceiptExchange,
    ReceiptTierAward,
    TierChange,
    TierMembership,
)
from loyalty.selectors import customer_balances
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import CouponGrant, Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import (
    CurrencyFactory,
    ProductFactory,
    TerminalFactory,
    TierFactory,
)
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal
MUG = ("MUG", 1, "400.00")
BREAD = ("BREAD", 1, "100.00")


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    world.chips = CurrencyFactory(
        programme=world.programme,
        code="chips",
        name="Chips",
        decimal_places=0,
        rub_rate=D("0"),
        is_default=False,
    )
    world.base = TierFactory(programme=world.programme, code="base", name="Base", rank=1)
    world.base.threshold = D("0.00")
    world.base.save()
    world.gold = TierFactory(
        programme=world.programme, code="gold", name="Gold", rank=2, threshold=D("10000.00")
    )
    mug = ProductFactory(sku="MUG", partner=None)
    promotion(
        world,
        "5 chips for 500.00",
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "500.00"}],
        rewards=[{"kind": "points_fixed", "value": 5, "currency": world.chips}],
    )
    priced = {"exchange_cost": D("10"), "exchange_currency": world.chips}
    world.mug_50 = promotion(
        world,
        "Mug at half price for 10 chips",
        code="MUG-50",
        rewards=[
            {
                "kind": "discount_percent",
                "value": 50,
                "product_set": product_set(world, "Mug", products=[mug]),
            }
        ],
        **priced,
    )
    world.coupon_10 = promotion(
        world,
        "A coupon for 10 chips",
        code="COUPON-10",
        rewards=[{"kind": "coupon", "value": 1, "coupon_series": "NEXT-10"}],
        **priced,
    )
    world.gold_for_chips = promotion(
        world,
        "Gold for 10 chips",
        code="GOLD",
        rewards=[{"kind": "tier", "value": 1, "tier": world.gold}],
        **priced,
    )
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
    """calculate, then confirm: the same numbers and exchanges; returns confirm's answer."""
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "lines"):
        assert calculated[key] == confirmed[key], key
    assert calculated["promotions"] == confirmed["promotions"]
    assert calculated.get("exchanges") == confirmed.get("exchanges")
    return confirmed


def _chips(world) -> Decimal:
    account = Account.objects.filter(customer=world.customer, currency=world.chips).first()
    return account.balance if account is not None else D("0")


def _collect(world, chips: int, prefix: str = "COLLECT") -> None:
    """Purchases of 600.00 until the customer holds ``chips`` more (5 each)."""
    before = _chips(world)
    for n in range(chips // 5):
        confirm_answer(world.terminal, _sale(world, f"{prefix}-{n}", [("X", 1, "600.00")]))
    assert _chips(world) == before + chips


def test_chips_are_collected_and_exchanged_for_half_price_on_the_mug(
    world, assert_ledger_consistent
):
    # given two purchases of 600.00, 5 chips each
    _collect(world, 10)
    chips = next(b for b in customer_balances(world.customer) if b["currency"] == "chips")
    assert chips["active"] == "10"
    # when the register asks for the mug at half price
    answer = _both(world, "R1", [MUG, BREAD], exchanges=("MUG-50",))
    # then the mug's line gets 50 % off and the customer pays 10 chips for it
    assert [line["discount"] for line in answer["lines"]] == ["200.00", "0.00"]
    assert answer["to_pay"] == "300.00"
    assert answer["exchanges"] == [
        {
            "code": "MUG-50",
            "status": "applied",
            "promotion_id": world.mug_50.pk,
            "currency": "chips",
            "cost": "10",
        }
    ]
    assert _chips(world) == 0
    exchange = ReceiptExchange.objects.get()
    assert (exchange.code, exchange.cost, exchange.lines) == ("MUG-50", D("10"), [1])
    assert exchange.posting.kind == Posting.Kind.EXCHANGE
    assert_ledger_consistent()


def test_a_receipt_without_exchanges_answers_as_before(world):
    _collect(world, 10)
    answer = _both(world, "R1", [MUG, BREAD])
    assert answer["discount"] == "0.00"
    assert "exchanges" not in answer
    assert _chips(world) == 15  # and 5 for this purchase of 500.00


def test_a_retried_confirm_debits_the_chips_once(world, assert_ledger_consistent):
    _collect(world, 10)
    first = confirm_answer(world.terminal, _sale(world, "R1", [MUG], exchanges=("MUG-50",)))
    again = confirm_answer(world.terminal, _sale(world, "R1", [MUG], exchanges=("MUG-50",)))
    assert again == first
    assert _chips(world) == 0
    assert Posting.objects.filter(kind=Posting.Kind.EXCHANGE).count() == 1
    assert_ledger_consistent()


def test_a_cancel_gives_the_chips_back_once(world, assert_ledger_consistent):
    _collect(world, 10)
    _both(world, "R1", [MUG, BREAD], exchanges=("MUG-50",))
    cancelled = purchase_cancel(world.terminal, "R1")
    assert cancelled["exchanges_returned"] == [
        {"code": "MUG-50", "currency": "chips", "points": "10"}
    ]
    assert _chips(world) == 10
    assert purchase_cancel(world.terminal, "R1") == cancelled  # a retried cancel moves nothing
    assert _chips(world) == 10
    give_back = Posting.objects.get(kind=Posting.Kind.EXCHANGE, cause=Posting.Cause.REFUND)
    assert give_back.reverses == ReceiptExchange.objects.get().posting
    assert ReceiptExchange.objects.get().returned_by is not None
    assert_ledger_consistent()


def test_chips_come_back_only_when_the_discounted_lines_are_all_returned(
    world, assert_ledger_consistent
):
    _collect(world, 10)
    _both(world, "R1", [("MUG", 2, "300.00"), BREAD], exchanges=("MUG-50",))  # earns none
    # the bread, then one of the two mugs: the exchange's line is not all back yet
    assert "exchanges_returned" not in purchase_refund(world.terminal, "R1", "F1", [(2, D("1"))])
    assert "exchanges_returned" not in purchase_refund(world.terminal, "R1", "F2", [(1, D("1"))])
    assert _chips(world) == 0
    # the second mug: now the chips come back, and a later cancel does not give them again
    last = purchase_refund(world.terminal, "R1", "F3", [(1, D("1"))])
    assert last["exchanges_returned"] == [{"code": "MUG-50", "currency": "chips", "points": "10"}]
    assert _chips(world) == 10
    assert "exchanges_returned" not in purchase_cancel(world.terminal, "R1")
    assert _chips(world) == 10
    assert_ledger_consistent()


def test_not_enough_chips_rejects_the_exchange_and_the_purchase_goes_on(
    world, assert_ledger_consistent
):
    _collect(world, 5)
    answer = _both(world, "R1", [MUG, BREAD], exchanges=("MUG-50",))
    assert answer["exchanges"] == [
        {
            "code": "MUG-50",
            "status": "rejected",
            "promotion_id": world.mug_50.pk,
            "currency": "chips",
            "cost": "10",
            "reason": "not_enough_chips",
        }
    ]
    assert answer["discount"] == "0.00"
    assert answer["status"] == "confirmed"
    assert _chips(world) == 10  # the 5 it had and 5 for this purchase of 500.00
    assert not ReceiptExchange.objects.exists()
    assert_ledger_consistent()


def test_chips_earned_on_the_receipt_cannot_pay_for_its_own_exchange(world):
    _collect(world, 5)
    answer = _both(world, "R1", [("MUG", 2, "400.00")], exchanges=("MUG-50",))
    assert answer["exchanges"][0]["reason"] == "not_enough_chips"


def test_unknown_codes_and_anonymous_receipts_are_rejected_with_their_reasons(world):
    _collect(world, 10)
    answer = _both(world, "R1", [MUG], exchanges=("NOPE", "MUG-50"))
    assert answer["exchanges"][0] == {
        "code": "NOPE",
        "status": "rejected",
        "reason": "unknown_exchange",
    }
    assert answer["exchanges"][1]["status"] == "applied"
    anonymous = _both(world, "R2", [MUG], card=None, exchanges=("MUG-50",))
    assert anonymous["exchanges"][0]["reason"] == "no_customer"
    assert anonymous["discount"] == "0.00"
    assert _chips(world) == 0


def test_an_exchange_whose_conditions_fail_or_that_is_paused_is_rejected(world):
    _collect(world, 10)
    promotion(
        world,
        "Big mug deal",
        code="BIG",
        exchange_cost=D("5"),
        exchange_currency=world.chips,
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "1000.00"}],
        rewards=[{"kind": "discount_percent", "value": 10}],
    )
    Promotion.objects.filter(pk=world.mug_50.pk).update(status=Promotion.Status.PAUSED)
    snapshot_invalidate()
    answer = _both(world, "R1", [MUG], exchanges=("BIG", "MUG-50"))
    assert [(x["code"], x["reason"]) for x in answer["exchanges"]] == [
        ("BIG", "conditions_not_met"),
        ("MUG-50", "not_available"),
    ]
    # a promo product missing from the receipt: nothing to give, nothing paid
    Promotion.objects.filter(pk=world.mug_50.pk).update(status=Promotion.Status.ACTIVE)
    snapshot_invalidate()
    answer = _both(world, "R2", [BREAD], exchanges=("MUG-50",))
    assert answer["exchanges"][0]["reason"] == "nothing_to_give"
    assert _chips(world) == 10


def test_an_exchange_a_customer_may_have_once(world):
    Promotion.objects.filter(pk=world.mug_50.pk).update(uses_per_customer=1)
    snapshot_invalidate()
    _collect(world, 20)
    assert _both(world, "R1", [MUG], exchanges=("MUG-50",))["exchanges"][0]["status"] == "applied"
    second = _both(world, "R2", [MUG], exchanges=("MUG-50",))["exchanges"][0]
    assert (second["status"], second["reason"]) == ("rejected", "limit_reached")
    assert _chips(world) == 10


def test_two_exchanges_on_one_receipt_need_the_price_of_both(world, assert_ledger_consistent):
    _collect(world, 15)
    answer = _both(world, "R1", [MUG], exchanges=("MUG-50", "COUPON-10"))
    assert [x["status"] for x in answer["exchanges"]] == ["applied", "rejected"]
    assert answer["exchanges"][1]["reason"] == "not_enough_chips"
    assert _chips(world) == 5
    assert_ledger_consistent()


def test_chips_are_exchanged_for_a_coupon(world, assert_ledger_consistent):
    _collect(world, 10)
    answer = _both(world, "R1", [BREAD], exchanges=("COUPON-10",))
    assert answer["exchanges"][0]["status"] == "applied"
    grant = CouponGrant.objects.get()
    assert (grant.series, grant.customer_id, grant.status) == (
        "NEXT-10",
        world.customer.pk,
        CouponGrant.Status.PENDING,
    )
    assert ReceiptExchange.objects.get().lines == []  # touches no line: the whole receipt
    assert _chips(world) == 0
    # a coupon exchange gives its chips back only when the whole receipt comes back
    purchase_cancel(world.terminal, "R1")
    grant.refresh_from_db()
    assert grant.status == CouponGrant.Status.WITHDRAWN
    assert _chips(world) == 10
    assert_ledger_consistent()


def test_chips_are_exchanged_for_a_status_and_a_cancel_takes_it_back(
    world, assert_ledger_consistent
):
    _collect(world, 10)  # 1200.00 spent: still Base
    answer = _both(world, "R1", [BREAD], exchanges=("GOLD",))
    assert answer["exchanges"][0]["status"] == "applied"
    assert answer["customer"]["tier"] == "Gold"
    membership = TierMembership.objects.get(customer=world.customer)
    assert membership.tier == world.gold
    # the spend stands at Gold's threshold, and the receipt counts on top of it
    assert membership.qualifying_amount == D("10100.00")
    change = TierChange.objects.get(reason=TierChange.Reason.PROMOTION)
    assert (change.from_tier, change.to_tier) == (world.base, world.gold)
    award = ReceiptTierAward.objects.get()
    assert award.amount_added == D("8800.00")
    assert _chips(world) == 0
    # already Gold: the exchange has nothing to give and costs nothing
    _collect(world, 10, prefix="MORE")
    again = _both(world, "R2", [BREAD], exchanges=("GOLD",))
    assert again["exchanges"][0]["reason"] == "nothing_to_give"
    assert _chips(world) == 10
    # the cancel takes the tier back and gives the chips back
    purchase_cancel(world.terminal, "R1")
    membership.refresh_from_db()
    assert membership.tier == world.base
    assert membership.qualifying_amount == D("2500.00")  # 2 x 1200.00 + the 100.00 of R2
    assert TierChange.objects.filter(reason=TierChange.Reason.REFUND).count() == 1
    assert _chips(world) == 20
    purchase_cancel(world.terminal, "R1")
    membership.refresh_from_db()
    assert membership.qualifying_amount == D("2500.00")
    assert_ledger_consistent()


def test_chips_are_taken_first_expiring_first(world, assert_ledger_consistent):
    world.chips.lifetime_days = 30
    world.chips.save()
    confirm_answer(world.terminal, _sale(world, "LONG", [("X", 1, "600.00")]))
    world.chips.lifetime_days = 10
    world.chips.save()
    confirm_answer(world.terminal, _sale(world, "SHORT", [("X", 1, "600.00")]))
    world.chips.lifetime_days = None
    world.chips.save()
    promotion(
        world,
        "Cheap mug",
        code="MUG-5",
        exchange_cost=D("5"),
        exchange_currency=world.chips,
        rewards=[{"kind": "discount_fixed", "value": 10}],
    )
    confirm_answer(world.terminal, _sale(world, "R1", [BREAD], exchanges=("MUG-5",)))
    lots = Lot.objects.filter(account__currency=world.chips).select_related("receipt")
    left = {lot.receipt.receipt_id: lot.remaining for lot in lots}
    assert left == {"LONG": D("5"), "SHORT": D("0")}  # the 10-day lot burns first
    assert_ledger_consistent()


def test_an_exchange_priced_in_the_main_currency_leaves_the_rest_to_spend(
    world, assert_ledger_consistent
):
    world.programme.max_spend_percent = D("100")
    world.programme.min_money_payment = D("0.00")
    world.programme.save()
    gift = promotion(world, "credit", rewards=[{"kind": "points_fixed", "value": 100}])
    confirm_answer(world.terminal, _sale(world, "CREDIT", [("X", 1, "1.00")]))
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    promotion(
        world,
        "Coffee coupon for 30 points",
        code="COFFEE",
        exchange_cost=D("30.00"),
        exchange_currency=world.currency,
        rewards=[{"kind": "discount_fixed", "value": "50.00"}],
    )
    snapshot_invalidate()
    answer = _both(world, "R1", [BREAD], exchanges=("COFFEE",), spend_points="max")
    assert answer["discount"] == "50.00"
    assert answer["points_spent"] == "50.00"  # 70 left after the price, 50 to pay
    assert answer["balance"]["after"] == "20.00"
    balance = Account.objects.get(customer=world.customer, currency=world.currency).balance
    assert balance == D("20.00")
    purchase_cancel(world.terminal, "R1")
    balance = Account.objects.get(customer=world.customer, currency=world.currency).balance
    assert balance == D("100.00")
    assert_ledger_consistent()


def test_exchanges_in_the_offline_upload_and_in_a_hold(world, assert_ledger_consistent):
    _collect(world, 10)
    held = calculate_answer(
        world.terminal, _sale(world, "H1", [MUG], exchanges=("MUG-50",)), hold=True
    )
    assert held["exchanges"][0]["status"] == "applied"
    sold_at = timezone.now() - timedelta(hours=2)
    answer = confirm_answer(
        world.terminal,
        _sale(world, "OFF-1", [MUG], exchanges=("MUG-50",), sold_at=sold_at),
        offline=True,
    )
    assert answer["exchanges"][0]["status"] == "applied"
    assert _chips(world) == 0
    assert_ledger_consistent()


@pytest.mark.postgres
def test_no_extra_round_trip_when_no_exchange_is_asked_for(
    world, settings, django_capture_on_commit_callbacks
):
    """The exchange promotions (one with limits) cost a receipt without exchanges nothing."""
    settings.POS_SQL_PATH = True
    Promotion.objects.filter(pk=world.mug_50.pk).update(uses_per_customer=1)
    snapshot_invalidate()
    with django_capture_on_commit_callbacks(execute=True):
        confirm_answer(world.terminal, _sale(world, "W-0", [BREAD]))
    with CaptureQueriesContext(connection) as calc:
        calculate_answer(world.terminal, _sale(world, "W-1", [BREAD]))
    with CaptureQueriesContext(connection) as confirm:
        confirm_answer(world.terminal, _sale(world, "W-1", [BREAD]))
    assert len(calc.captured_queries) == 1
    sent = [q["sql"] for q in confirm.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(sent) == 4, [sql[:80] for sql in sent]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_registers_exchanging_the_last_chips_at_once_cannot_both_have_them(
    round_, assert_ledger_consistent
):
    # given a customer with 10 chips and 8 registers, each asking for the mug for 10 chips
    world = coalition(percent="5")
    chips = CurrencyFactory(
        programme=world.programme, code="chips", decimal_places=0, is_default=False
    )
    gift = promotion(
        world, "chips", rewards=[{"kind": "points_fixed", "value": 10, "currency": chips}]
    )
    confirm_answer(world.terminal, _sale(world, "SEED", [BREAD]))
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    promotion(
        world,
        "Mug for 10 chips",
        code="MUG",
        exchange_cost=D("10"),
        exchange_currency=chips,
        rewards=[{"kind": "discount_percent", "value": 50}],
    )
    terminals = [world.terminal] + [TerminalFactory(store=world.store) for _ in range(7)]
    barrier = threading.Barrier(len(terminals))
    answers, errors = [None] * len(terminals), []

    def run(i):
        try:
            barrier.wait()
            request = _sale(world, f"R{i}", [BREAD], exchanges=("MUG",))
            answers[i] = confirm_answer(terminals[i], request)
        except Exception as exc:  # noqa: BLE001 - checked below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(terminals))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then exactly one has the mug at half price; the others are told why not
    assert not errors, errors
    statuses = sorted(answer["exchanges"][0]["status"] for answer in answers)
    assert statuses == ["applied"] + ["rejected"] * (len(terminals) - 1)
    assert {a["exchanges"][0].get("reason") for a in answers} == {None, "not_enough_chips"}
    account = Account.objects.get(customer=world.customer, currency=chips)
    assert account.balance == 0
    assert ReceiptExchange.objects.count() == 1
    assert_ledger_consistent()


# --- The exchange's parts: validation, the exchange format, past versions ---------------------


def test_an_exchange_needs_a_code_a_currency_of_its_programme_and_a_fitting_price(world):
    from django.core.exceptions import ValidationError

    from tests.factories.loyalty import ProgrammeFactory

    mug = Promotion.objects.get(pk=world.mug_50.pk)
    mug.full_clean()
    mug.code = ""
    mug.exchange_cost = D("10.5")  # chips have no decimal places
    with pytest.raises(ValidationError) as caught:
        mug.full_clean()
    assert set(caught.value.message_dict) == {"code", "exchange_cost"}
    mug.code, mug.exchange_cost = "MUG-50", D("10")
    mug.exchange_currency = CurrencyFactory(programme=ProgrammeFactory(code="other"), code="o")
    with pytest.raises(ValidationError) as caught:
        mug.full_clean()
    assert set(caught.value.message_dict) == {"exchange_currency"}
    mug.exchange_currency = None
    with pytest.raises(ValidationError) as caught:
        mug.full_clean()
    assert set(caught.value.message_dict) == {"exchange_currency"}
    gold = world.gold_for_chips.rewards.get()
    gold.tier = None
    with pytest.raises(ValidationError) as caught:
        gold.full_clean()
    assert set(caught.value.message_dict) == {"tier"}


def test_exchanges_and_tier_rewards_travel_in_the_exchange_format(world):
    import json

    from promotions.exchange import ImportFailed, promotions_export, promotions_import

    codes = ["MUG-50", "GOLD"]
    chosen = Promotion.objects.filter(code__in=codes).order_by("pk")
    document = json.loads(json.dumps(promotions_export(chosen)))
    mug, gold = document["promotions"]
    assert (mug["exchange_cost"], mug["exchange_currency"]) == ("10", "chips")
    assert gold["rewards"][0]["tier"] == "gold"
    # the import puts back what the document says
    Promotion.objects.filter(code__in=codes).update(exchange_cost=D("99"))
    world.gold_for_chips.rewards.update(tier=world.base)
    promotions_import(document)
    again = json.loads(json.dumps(promotions_export(chosen)))
    assert again["promotions"] == document["promotions"]
    broken = json.loads(json.dumps(document))
    broken["promotions"][0]["exchange_currency"] = "nope"
    broken["promotions"][1]["rewards"][0]["tier"] = "nope"
    with pytest.raises(ImportFailed) as caught:
        promotions_import(broken)
    assert {path for path, _message in caught.value.errors} == {
        "promotions[0].exchange_currency",
        "promotions[1].rewards[0].tier",
    }


def test_a_past_version_of_an_exchange_is_the_same_rule(world):
    from promotions.exchange import promotion_data
    from promotions.rules.history import _Lookups, rule_from_data
    from promotions.rules.snapshot import snapshot_get

    snapshot = snapshot_get()
    lookups = _Lookups(snapshot)
    for made in (world.mug_50, world.gold_for_chips):
        compiled = next(rule for rule in snapshot.promotions if rule.id == made.pk)
        rebuilt = rule_from_data(promotion_data(made), made.pk, lookups)
        assert (rebuilt.code, rebuilt.exchange_cost, rebuilt.exchange_currency_id) == (
            compiled.code,
            compiled.exchange_cost,
            compiled.exchange_currency_id,
        )
        assert [r.tier_id for r in rebuilt.rewards] == [r.tier_id for r in compiled.rewards]


def test_the_receipt_page_of_the_admin_shows_its_exchanges_and_tiers(world, admin_client):
    from django.urls import reverse

    from loyalty.models import Receipt

    _collect(world, 20)
    _both(world, "R1", [MUG], exchanges=("MUG-50", "GOLD"))
    receipt = Receipt.objects.get(receipt_id="R1")
    page = admin_client.get(reverse("admin:loyalty_receipt_change", args=[receipt.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "MUG-50" in html
    assert "GOLD" in html
    assert world.gold.name in html


def test_the_simulator_tries_exchanges_for_a_card(world, admin_client):
    from django.urls import reverse

    from processing.simulator import simulate

    _collect(world, 10)
    simulation = simulate(
        terminal=world.terminal,
        lines=[PurchaseLine(1, "MUG", D("1"), D("400.00"))],
        card=world.card.number,
        exchanges=("MUG-50", "NOPE"),
    )
    assert [x["status"] for x in simulation.answer["exchanges"]] == ["applied", "rejected"]
    assert simulation.answer["discount"] == "200.00"
    plain = simulate(
        terminal=world.terminal,
        lines=[PurchaseLine(1, "MUG", D("1"), D("400.00"))],
        card=world.card.number,
    )
    unasked = {pid: why for pid, _name, why in plain.blocked}
    assert "asks for it" in str(unasked[world.mug_50.pk])
    page = admin_client.post(
        reverse("admin:promotions_promotion_simulator"),
        {
            "terminal": world.terminal.pk,
            "card": world.card.number,
            "lines": "MUG 1 400.00",
            "exchanges": "MUG-50, NOPE",
        },
    )
    html = page.content.decode()
    assert 'id="simulation-exchanges"' in html
    assert "unknown_exchange" in html
    assert _chips(world) == 10  # the simulator writes nothing
