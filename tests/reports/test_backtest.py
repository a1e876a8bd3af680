"""The promotion back-test: a promotion (a draft too) run over past receipts, with what it
would have cost and whom it would have reached, to the kopeck; the run's life on its row.

The history (the base promotion gives 5 % in bonus points, 1 point = 1.00 RUB; cheese is SKU A):

| receipt | day | customer | store | lines | |
| --- | --- | --- | --- | --- | --- |
| R1 | 1 | first | 1 | 2 A × 150.00, 1 B × 200.00 | |
| R2 | 2 | first | 2 | 1 A × 99.99 | |
| R3 | 3 | second | 1 | 1 A × 120.00, 1 B × 880.00 | |
| R4 | 4 | second | 2 | 3 A × 33.33 | cancelled |
| R5 | 4 | anonymous | 1 | 1 A × 50.00 | |
| R6 | 5 | second | 2 | 1 B × 40.00 | |
| R7 | 8 | second | 1 | 1 A × 500.00 | after the period |

The period is days 0 to 7: R1, R2, R3, R5 and R6 are examined.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from crm.models import Customer
from loyalty.models import StaffProfile, Store, Terminal, TierMembership
from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions import backtest as backtest_module
from promotions.backtest import backtest_evaluate, refusal_text
from promotions.models import ProductSet, Promotion
from reports.models import Backtest
from reports.services.backtests import backtest_perform, backtest_queue
from tests.factories.loyalty import (
    ActiveCardFactory,
    CurrencyFactory,
    ProductFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)
from tests.factories.processing import Coalition, coalition
from tests.factories.promotions import group, product_set, promotion
from tests.processing.answers import confirm_answer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
D = Decimal


@dataclass
class History:
    world: Coalition
    store2: Store
    terminal2: Terminal
    second: Customer
    second_card: str  # its number
    cheese: ProductSet  # SKU A
    day0: datetime  # 00:00 UTC ten days ago
    since: datetime
    until: datetime

    def day(self, n: float) -> datetime:
        return self.day0 + timedelta(days=n)


def _buy(terminal, receipt_id, at, lines, card=None) -> dict:
    return confirm_answer(
        terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=card,
            sold_at=at,
            lines=tuple(
                PurchaseLine(n, sku, D(quantity), D(price))
                for n, (sku, quantity, price) in enumerate(lines, start=1)
            ),
        ),
    )


@pytest.fixture
def history() -> History:
    world = coalition(percent="5")
    store2 = StoreFactory(partner=world.partner)
    terminal2 = TerminalFactory(store=store2)
    second_card = ActiveCardFactory(programme=world.programme)
    a = ProductFactory(sku="A", partner=None)
    ProductFactory(sku="B", partner=None)
    now = timezone.now().astimezone(UTC)
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    first, second = world.card.number, second_card.number
    at = lambda n: day0 + timedelta(days=n, hours=6)  # noqa: E731
    _buy(world.terminal, "R1", at(1), [("A", "2", "150.00"), ("B", "1", "200.00")], first)
    _buy(terminal2, "R2", at(2), [("A", "1", "99.99")], first)
    _buy(world.terminal, "R3", at(3), [("A", "1", "120.00"), ("B", "1", "880.00")], second)
    _buy(terminal2, "R4", at(4), [("A", "3", "33.33")], second)
    purchase_cancel(terminal2, "R4")
    _buy(world.terminal, "R5", at(4), [("A", "1", "50.00")])
    _buy(terminal2, "R6", at(5), [("B", "1", "40.00")], second)
    _buy(world.terminal, "R7", at(8), [("A", "1", "500.00")], second)
    return History(
        world=world,
        store2=store2,
        terminal2=terminal2,
        second=second_card.customer,
        second_card=second,
        cheese=product_set(world, "Cheese", products=[a]),
        day0=day0,
        since=day0,
        until=day0 + timedelta(days=7),
    )


def _draft(history: History, name: str, rewards: list[dict], **fields) -> Promotion:
    """A draft that starts only next month: the back-test's period stands in for its own."""
    fields.setdefault("starts_at", timezone.now() + timedelta(days=30))
    return promotion(history.world, name, status=Promotion.Status.DRAFT, rewards=rewards, **fields)


def _cheese_discount(history: History, **fields) -> Promotion:
    return _draft(
        history,
        "-10% on cheese",
        [{"kind": "discount_percent", "value": "10", "product_set": history.cheese}],
        **fields,
    )


def _backtest(history: History, promotion: Promotion, *, since=None, until=None, stores=()):
    backtest = Backtest.objects.create(
        promotion=promotion, since=since or history.since, until=until or history.until
    )
    backtest.stores.set(stores)
    return backtest


def _run(backtest: Backtest) -> Backtest:
    backtest_queue(backtest=backtest)
    assert backtest_perform(backtest_id=backtest.pk, run_number=backtest.run_number) == "done"
    backtest.refresh_from_db()
    return backtest


def _figures(backtest: Backtest) -> dict:
    return {
        name: getattr(backtest, name)
        for name in (
            "receipts_examined",
            "receipts_fired",
            "customers_reached",
            "discount_amount",
            "points_worth",
            "total_cost",
            "discount_change",
            "points_worth_change",
            "net_change",
            "points",
        )
    }


def test_a_draft_discount_over_the_period_to_the_kopeck(history):
    # given a draft -10 % on cheese that would start only next month
    draft = _cheese_discount(history)

    # when it is back-tested over days 0-7 at every store
    backtest = _run(_backtest(history, draft))

    # then R1, R2, R3, R5, R6 are examined (R4 was cancelled, R7 is after the period); it fires
    # on every receipt with cheese: 30.00 + 10.00 (9.999 half-up) + 12.00 + 5.00 (anonymous)
    assert backtest.status == Backtest.Status.DONE
    assert backtest.finished_at is not None
    # and the base 5 % is earned on what is left to pay: 23.50 instead of 25.00 on R1, 4.50
    # instead of 5.00 on R2 and 49.40 instead of 50.00 on R3, so 2.60 fewer points
    assert _figures(backtest) == {
        "receipts_examined": 5,
        "receipts_fired": 4,
        "customers_reached": 2,
        "discount_amount": D("57.00"),
        "points_worth": D("0.00"),
        "total_cost": D("57.00"),
        "discount_change": D("57.00"),
        "points_worth_change": D("-2.60"),
        "net_change": D("54.40"),
        "points": {
            "bonus": {
                "points": "0.00",
                "worth": "0.00",
                "points_change": "-2.60",
                "worth_change": "-2.60",
            }
        },
    }


def test_points_in_a_second_currency_are_valued_at_its_rate(history):
    # given stars worth 0.50 RUB each, and a draft giving 10 % in stars on cheese
    stars = CurrencyFactory(
        programme=history.world.programme,
        code="stars",
        name="Stars",
        rub_rate=D("0.5000"),
        is_default=False,
    )
    draft = _draft(
        history,
        "Stars for cheese",
        [
            {
                "kind": "points_percent",
                "value": "10",
                "product_set": history.cheese,
                "currency": stars,
            }
        ],
    )

    # when
    backtest = _run(_backtest(history, draft))

    # then 30.00 + 10.00 + 12.00 stars (the anonymous R5 earns none), worth 26.00 RUB, and the
    # bonus points of the base promotion do not change
    assert _figures(backtest) == {
        "receipts_examined": 5,
        "receipts_fired": 3,
        "customers_reached": 2,
        "discount_amount": D("0.00"),
        "points_worth": D("26.00"),
        "total_cost": D("26.00"),
        "discount_change": D("0.00"),
        "points_worth_change": D("26.00"),
        "net_change": D("26.00"),
        "points": {
            "stars": {
                "points": "52.00",
                "worth": "26.00",
                "points_change": "52.00",
                "worth_change": "26.00",
            }
        },
    }


def test_the_net_change_counts_lines_taken_from_a_promotion_of_its_group(history):
    # given the base 5 % and a draft 8 % on cheese above it in one group of mode first
    accrual = group(history.world, "Accrual", "first")
    Promotion.objects.filter(pk=history.world.promotion.pk).update(group=accrual)
    draft = _draft(
        history,
        "8% on cheese",
        [{"kind": "points_percent", "value": "8", "product_set": history.cheese}],
        priority=10,
        group=accrual,
    )

    # when
    backtest = _run(_backtest(history, draft))

    # then it gives 24.00 + 8.00 (7.9992) + 9.60 points, but the base no longer gives its 5 %
    # on those lines (15.00 + 5.00 + 6.00): the receipts' points grow by 15.60 only
    assert backtest.receipts_fired == 3
    assert backtest.customers_reached == 2
    assert backtest.total_cost == D("41.60")
    assert backtest.points_worth_change == D("15.60")
    assert backtest.net_change == D("15.60")
    assert backtest.points == {
        "bonus": {
            "points": "41.60",
            "worth": "41.60",
            "points_change": "15.60",
            "worth_change": "15.60",
        }
    }


def test_the_period_and_the_stores_chosen_filter_the_receipts(history):
    draft = _cheese_discount(history)

    # store 2 only: R2 and R6 (R4 is cancelled)
    at_store2 = _run(_backtest(history, draft, stores=[history.store2]))
    assert (at_store2.receipts_examined, at_store2.receipts_fired) == (2, 1)
    assert at_store2.customers_reached == 1
    assert at_store2.total_cost == D("10.00")
    assert at_store2.net_change == D("9.50")

    # from the middle of day 2: R3, R5 and R6; "until" is exclusive (R6 is at day 5, 06:00)
    later = _run(_backtest(history, draft, since=history.day(2.5)))
    assert (later.receipts_examined, later.receipts_fired, later.customers_reached) == (3, 2, 1)
    assert later.total_cost == D("17.00")
    until_r6 = _run(_backtest(history, draft, until=history.day(5.25)))
    assert until_r6.receipts_examined == 4


def test_no_store_chosen_means_the_stores_of_the_promotions_partner(history):
    # given a receipt of another partner of the coalition in the period
    elsewhere = TerminalFactory()
    _buy(elsewhere, "R8", history.day(6), [("A", "1", "10.00")], history.second_card)

    # a coalition promotion examines it, one of the first partner does not
    coalition_wide = _run(_backtest(history, _cheese_discount(history)))
    assert (coalition_wide.receipts_examined, coalition_wide.total_cost) == (6, D("58.00"))
    partners_own = _run(
        _backtest(history, _cheese_discount(history, partner=history.world.partner))
    )
    assert (partners_own.receipts_examined, partners_own.total_cost) == (5, D("57.00"))


def test_the_customers_tier_now_stands_for_the_tier_at_the_time_of_sale(history):
    # given the second customer is Gold now (the others, without a membership, stand in the
    # entry tier), and a draft +100 points for Gold customers
    TierFactory(programme=history.world.programme, name="Base", rank=1, threshold=D("0.00"))
    gold = TierFactory(programme=history.world.programme, name="Gold", rank=2, threshold=D("1000"))
    TierMembership.objects.create(
        customer=history.second, programme=history.world.programme, tier=gold
    )
    draft = _draft(history, "Gold +100", [{"kind": "points_fixed", "value": "100"}], tiers=[gold])

    # when
    backtest = _run(_backtest(history, draft))

    # then it fires on the second customer's R3 and R6 only
    assert (backtest.receipts_fired, backtest.customers_reached) == (2, 1)
    assert backtest.total_cost == D("200.00")


def test_an_active_promotion_is_compared_with_the_rules_without_it(history):
    # the base 5 % itself: without it no points at all (anonymous R5 earns none)
    backtest = _run(_backtest(history, history.world.promotion))
    # 25.00 + 5.00 + 50.00 + 2.00
    assert (backtest.receipts_fired, backtest.total_cost, backtest.net_change) == (
        4,
        D("82.00"),
        D("82.00"),
    )


def test_the_receipts_are_read_in_chunks_with_the_same_figures(history, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    draft = _cheese_discount(history)
    with CaptureQueriesContext(connection) as one_chunk:
        whole = backtest_evaluate(promotion=draft, since=history.since, until=history.until)

    monkeypatch.setattr(backtest_module, "CHUNK_SIZE", 2)
    # three chunks: a fixed number of queries more per chunk, none per receipt
    with CaptureQueriesContext(connection) as three_chunks:
        chunked = backtest_evaluate(promotion=draft, since=history.since, until=history.until)

    assert chunked == whole
    per_chunk = len(three_chunks) - len(one_chunk)
    assert 0 < per_chunk <= 2 * 8  # two more chunks, at most 8 queries each (lines, tiers...)


def database_fingerprint() -> dict[str, tuple]:
    """Row count and a checksum of every table of the core apps."""
    result = {}
    for model in apps.get_models():
        if model._meta.app_label not in {"loyalty", "crm", "promotions"}:
            continue
        rows = repr(list(model.objects.order_by("pk").values_list()))
        result[model._meta.label] = (
            model.objects.count(),
            hashlib.sha256(rows.encode()).hexdigest(),
        )
    return result


def test_a_backtest_writes_nothing_but_its_own_row(history, assert_ledger_consistent):
    # given
    draft = _cheese_discount(history)
    backtest = _backtest(history, draft)
    before = database_fingerprint()

    # when
    _run(backtest)

    # then no receipt, ledger entry, balance, counter or promotion changed
    assert database_fingerprint() == before
    assert_ledger_consistent()
    draft.refresh_from_db()
    assert draft.status == Promotion.Status.DRAFT


def test_a_failure_is_recorded_and_never_leaves_the_run_running(history, monkeypatch):
    # given an engine that breaks
    backtest = _backtest(history, _cheese_discount(history))
    backtest_queue(backtest=backtest)

    def broken(*args, **kwargs):
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(backtest_module, "evaluate", broken)

    # when
    status = backtest_perform(backtest_id=backtest.pk, run_number=backtest.run_number)

    # then
    backtest.refresh_from_db()
    assert status == backtest.status == Backtest.Status.FAILED
    assert backtest.error == "RuntimeError: the engine broke"
    assert backtest.finished_at is not None
    assert backtest.receipts_examined == 0

    # and a run again, once the engine works, is done with no error left
    monkeypatch.undo()
    again = _run(backtest)
    assert (again.status, again.error, again.total_cost) == ("done", "", D("57.00"))


def test_the_task_runs_once_per_queued_run(history, django_capture_on_commit_callbacks):
    backtest = _backtest(history, _cheese_discount(history))

    # the task is sent when the transaction commits and runs (eagerly here)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        backtest_queue(backtest=backtest)
    assert len(callbacks) == 1
    backtest.refresh_from_db()
    assert (backtest.status, backtest.run_number, backtest.total_cost) == ("done", 1, D("57.00"))
    finished_at = backtest.finished_at

    # the same task delivered twice writes nothing the second time
    assert backtest_perform(backtest_id=backtest.pk, run_number=1) is None
    # nor does a late task of a run that was replaced by a newer one
    backtest_queue(backtest=backtest)
    assert backtest_perform(backtest_id=backtest.pk, run_number=1) is None
    backtest.refresh_from_db()
    assert (backtest.status, backtest.run_number, backtest.total_cost) == ("queued", 2, D("0.00"))
    assert backtest.finished_at is None
    assert finished_at is not None


def _local(moment):
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def test_the_admin_queues_a_backtest_shows_it_read_only_and_runs_it_again(
    history, admin_client, admin_user, django_capture_on_commit_callbacks
):
    draft = _cheese_discount(history)
    since_date, since_time = _local(history.since)
    until_date, until_time = _local(history.until)

    # a marketer adds a back-test: it is queued on save and (eagerly here) run
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:reports_backtest_add"),
            {
                "promotion": draft.pk,
                "since_0": since_date,
                "since_1": since_time,
                "until_0": until_date,
                "until_1": until_time,
                "stores": [history.world.store.pk, history.store2.pk],
            },
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    backtest = Backtest.objects.get()
    assert (backtest.status, backtest.requested_by, backtest.total_cost) == (
        "done",
        admin_user,
        D("57.00"),
    )

    # the list and the page show the status and the figures; the page cannot be saved
    listing = admin_client.get(reverse("admin:reports_backtest_changelist"))
    assert "57.00" in listing.text
    assert "done" in listing.text
    page = admin_client.get(reverse("admin:reports_backtest_change", args=[backtest.pk]))
    assert page.status_code == 200
    assert "54.40" in page.text
    assert "-2.60" in page.text
    assert 'name="_save"' not in page.text
    with django_capture_on_commit_callbacks(execute=True):
        refused = admin_client.post(
            reverse("admin:reports_backtest_change", args=[backtest.pk]),
            {"promotion": draft.pk, "since_0": since_date, "since_1": since_time},
        )
    assert refused.status_code == 403

    # the re-run action runs it again
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:reports_backtest_changelist"),
            {"action": "rerun", "_selected_action": [backtest.pk]},
        )
    backtest.refresh_from_db()
    assert (backtest.status, backtest.run_number, backtest.total_cost) == ("done", 2, D("57.00"))


def test_the_admin_refuses_a_period_that_ends_before_it_starts_and_other_partners_stores(
    history, admin_client
):
    draft = _cheese_discount(history, partner=history.world.partner)
    since_date, since_time = _local(history.since)
    elsewhere = StoreFactory()

    response = admin_client.post(
        reverse("admin:reports_backtest_add"),
        {
            "promotion": draft.pk,
            "since_0": since_date,
            "since_1": since_time,
            "until_0": since_date,
            "until_1": since_time,
            "stores": [elsewhere.pk],
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["until"] == ["The period must end after it starts."]
    assert errors["stores"] == [
        f"Choose stores of the promotion's partner, {history.world.partner}."
    ]
    assert not Backtest.objects.exists()


def test_partner_staff_see_the_backtests_of_their_partners_promotions_only(history, client):
    # given a back-test of the partner's own promotion and one of a coalition promotion
    own = _backtest(history, _cheese_discount(history, partner=history.world.partner))
    coalition_wide = _backtest(history, _cheese_discount(history))
    user = get_user_model().objects.create_user("partner-marketer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__endswith="_backtest"))
    StaffProfile.objects.create(user=user, partner=history.world.partner)
    client.force_login(user)

    # when
    listing = client.get(reverse("admin:reports_backtest_changelist"))

    # then
    assert list(listing.context["cl"].queryset) == [own]
    other = client.get(reverse("admin:reports_backtest_change", args=[coalition_wide.pk]))
    assert other.status_code == 302  # "does not exist", back to the admin index


def _band_of(bands: list[tuple[str, str]], amount: Decimal) -> int | None:
    """The band (from 1) an amount falls in: the last whose lower bound it reaches."""
    found = None
    for number, (lower, _value) in enumerate(bands, start=1):
        if amount >= D(lower):
            found = number
    return found


def test_a_banded_reward_is_back_tested_band_by_band(history):
    # given one draft promotion: 5 % in points below 100.00, 7 % from 100.00, 10 % from 600.00
    bands = [("0", "5"), ("100", "7"), ("600", "10")]
    draft = _draft(history, "Floating percent", [{
        "kind": "points_percent", "value": "5", "band_basis": "receipt_amount",
        "bands": [{"from": lower, "value": value} for lower, value in bands],
    }])  # fmt: skip
    # when
    backtest = _run(_backtest(history, draft))
    # then, computed here from the receipts of the period with a customer (points need one)
    receipts = {"R1": D("500.00"), "R2": D("99.99"), "R3": D("1000.00"), "R6": D("40.00")}
    expected: dict[int, list] = {}
    for amount in receipts.values():
        number = _band_of(bands, amount)
        points = (amount * D(bands[number - 1][1]) / 100).quantize(D("0.01"), ROUND_HALF_UP)
        row = expected.setdefault(number, [0, D("0")])
        row[0] += 1
        row[1] += points
    assert backtest.receipts_fired == 4
    assert backtest.points["bonus"]["points"] == str(sum(p for _n, p in expected.values()))
    assert backtest.points["bonus"]["points"] == "142.00"  # 5.00 + 2.00, 35.00, 100.00
    assert [
        (row["band"], row["from"], row["to"], row["value"], row["receipts"], row["amount"])
        for row in backtest.bands
    ] == [
        (1, "0", "100", "5", *expected[1][:1], str(expected[1][1])),
        (2, "100", "600", "7", *expected[2][:1], str(expected[2][1])),
        (3, "600", None, "10", *expected[3][:1], str(expected[3][1])),
    ]
    assert {row["unit"] for row in backtest.bands} == {"bonus"}


def test_bands_by_the_customers_spend_are_refused_with_a_reason(history):
    from tests.factories.loyalty import CounterFactory

    spent = CounterFactory(programme=history.world.programme, unit="amount")
    draft = _draft(history, "By spend", [{
        "kind": "discount_percent", "value": "3", "band_basis": "customer_spend",
        "band_counter": spent, "bands": [{"from": "0", "value": "3"}],
    }])  # fmt: skip
    by_amount = _draft(history, "By amount", [{
        "kind": "discount_percent", "value": "3", "band_basis": "receipt_amount",
        "bands": [{"from": "0", "value": "3"}],
    }])  # fmt: skip
    backtest = _backtest(history, draft)
    backtest.companions.set([by_amount])
    # when: the run is done, the promotion it cannot compute refused with its reason
    backtest = _run(backtest)
    # then the refused one has a reason and no figures (never a zero), the other its bands
    (refused, computed) = backtest.per_promotion
    assert refused["name"] == "By spend"
    assert refused["refusal"] == "band_spend"
    assert "total_cost" not in refused
    assert "bands" not in refused
    assert refusal_text("band_spend").startswith("Its reward has bands by the customer's spend")
    assert computed["refusal"] == ""
    assert [row["promotion_name"] for row in backtest.bands] == ["By amount"]
    assert backtest.bands == computed["bands"]
    assert backtest.error == ""
