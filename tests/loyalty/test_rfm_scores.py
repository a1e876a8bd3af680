"""RFM scores by hand: quintiles with ties, thresholds on their edges, what counts as a
purchase, who is scored and in which cell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Customer
from loyalty.errors import RfmCellsInvalid
from loyalty.models import (
    Currency,
    Receipt,
    Refund,
    RfmCell,
    RfmRun,
    RfmScheme,
    RfmScore,
    Terminal,
)
from loyalty.rfm.cells import cells_grid
from loyalty.rfm.compute import rfm_recompute
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CurrencyFactory, ProgrammeFactory, TerminalFactory
from tests.loyalty.rfm_helpers import buy, scheme_make

pytestmark = pytest.mark.django_db
D = Decimal


@dataclass
class World:
    now: datetime
    currency: Currency
    terminal: Terminal


@pytest.fixture
def world() -> World:
    now = timezone.now().replace(microsecond=0)
    return World(now=now, currency=CurrencyFactory(), terminal=TerminalFactory())


def scores(scheme) -> dict[int, RfmScore]:
    return {s.customer_id: s for s in RfmScore.objects.filter(scheme=scheme)}


def test_quintiles_give_equal_values_equal_scores(world):
    # given ten customers: frequencies 1,1,1,1,1,1,2,2,3,5, all different money and recency
    frequencies = [1, 1, 1, 1, 1, 1, 2, 2, 3, 5]
    customers = CustomerFactory.create_batch(10)
    for i, (customer, count) in enumerate(zip(customers, frequencies, strict=True)):
        buy(world, customer, days_ago=10 + i, money=f"{100 * (i + 1)}.00")  # the last purchase
        for extra in range(count - 1):
            buy(world, customer, days_ago=100 + extra, money="0.00")
    scheme = scheme_make(world.currency.programme)

    # when
    run = rfm_recompute(scheme.pk, now=world.now)

    # then ranks share the first of their ties: 1 + 5 * (rank - 1) // 10
    got = scores(scheme)
    assert [got[c.pk].f for c in customers] == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    # money 100..1000, one each: ranks 1..10
    assert [got[c.pk].m for c in customers] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # recency 10..19 days: the fewest days is the best
    assert [got[c.pk].r for c in customers] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert [got[c.pk].recency_days for c in customers] == list(range(10, 20))
    assert got[customers[9].pk].frequency == 5
    assert got[customers[9].pk].monetary == D("1000.00")
    assert (run.size, run.buyers, run.money) == (10, 10, D("5500.00"))


def test_quintiles_of_one_value_for_everyone_score_one(world):
    customers = CustomerFactory.create_batch(3)
    for customer in customers:
        buy(world, customer, days_ago=5, money="50.00")
    scheme = scheme_make(world.currency.programme)

    rfm_recompute(scheme.pk, now=world.now)

    assert {(s.r, s.f, s.m) for s in scores(scheme).values()} == {(1, 1, 1)}


def test_thresholds_on_their_edges(world):
    # given recency 30/60/120/240 days, frequency 2/3/5/8, money 1000/3000/7000/15000
    scheme = scheme_make(
        world.currency.programme,
        window_days=365,
        recency_scoring="thresholds",
        recency_bounds="30, 60, 120, 240",
        frequency_scoring="thresholds",
        frequency_bounds="2 3 5 8",
        monetary_scoring="thresholds",
        monetary_bounds="1000, 3000, 7000, 15000",
    )
    edges = {
        # days ago of the last purchase, purchases, money of each -> (r, f, m)
        "a": (30, 1, "999.99", (5, 1, 1)),
        "b": (30.5, 2, "500.00", (5, 2, 2)),  # 30 whole days and a half: still 30 days
        "c": (31, 3, "1000.00", (4, 3, 3)),
        "d": (240, 8, "1874.99", (2, 5, 4)),  # 14,999.92 in all
        "e": (241, 5, "3000.00", (1, 4, 5)),
        "f": (0, 1, "15000.00", (5, 1, 5)),
    }
    customers = {}
    for name, (days, count, money, _expected) in edges.items():
        customers[name] = customer = CustomerFactory()
        for n in range(count):
            buy(world, customer, days_ago=days + n * 10, money=money)

    rfm_recompute(scheme.pk, now=world.now)

    got = scores(scheme)
    assert {n: (got[c.pk].r, got[c.pk].f, got[c.pk].m) for n, c in customers.items()} == {
        n: edge[3] for n, edge in edges.items()
    }
    assert got[customers["b"].pk].recency_days == 30
    assert got[customers["d"].pk].monetary == D("14999.92")


def test_what_counts_is_what_the_purchases_condition_counts(world):
    # given purchases cancelled, refunded in full, refunded in part, in another programme
    ann, bob, cat, dan = CustomerFactory.create_batch(4)
    buy(world, ann, days_ago=1, money="300.00", status=Receipt.Status.PARTIALLY_REFUNDED)
    Refund.objects.create(
        receipt=Receipt.objects.get(customer=ann),
        terminal=world.terminal,
        kind=Refund.Kind.REFUND,
        refund_id="F1",
        fingerprint="x",
        to_pay=D("100.00"),
        amount=D("100.00"),
    )
    buy(world, bob, days_ago=1, status=Receipt.Status.CANCELLED)
    buy(world, bob, days_ago=2, status=Receipt.Status.REFUNDED)
    other = CurrencyFactory(code="other", programme=ProgrammeFactory(code="other"))
    buy(world, cat, days_ago=1, currency=other)
    buy(world, dan, days_ago=0, money="10.00", sold_at=world.now + timedelta(seconds=1))
    scheme = scheme_make(world.currency.programme)

    rfm_recompute(scheme.pk, now=world.now)

    # then only ann is scored, with the money she kept
    got = scores(scheme)
    assert set(got) == {ann.pk}
    assert (got[ann.pk].frequency, got[ann.pk].monetary) == (1, D("200.00"))


def test_a_customer_who_bought_only_before_the_window_is_lost(world):
    # given a 90-day window: ann bought 91 days ago, bob today; cat is anonymised, dan merged
    ann, bob, cat, dan = CustomerFactory.create_batch(4)
    buy(world, ann, days_ago=91, money="5000.00")
    buy(world, bob, days_ago=0)
    for gone in (cat, dan):
        buy(world, gone, days_ago=1)
    Customer.objects.filter(pk=cat.pk).update(is_anonymised=True)
    Customer.objects.filter(pk=dan.pk).update(merged_into=bob)
    CustomerFactory()  # never bought
    scheme = scheme_make(world.currency.programme, window_days=90)

    run = rfm_recompute(scheme.pk, now=world.now)

    got = scores(scheme)
    assert set(got) == {ann.pk, bob.pk}
    lost = got[ann.pk]
    assert (lost.r, lost.f, lost.m, lost.cell) == (1, 1, 1, "lost")
    assert (lost.recency_days, lost.frequency, lost.monetary) == (91, 0, D("0.00"))
    assert (got[bob.pk].recency_days, got[bob.pk].frequency) == (0, 1)
    assert (run.size, run.buyers) == (2, 1)


def test_the_window_includes_its_first_moment(world):
    ann, bob = CustomerFactory.create_batch(2)
    buy(world, ann, days_ago=30)
    buy(world, bob, days_ago=30, sold_at=world.now - timedelta(days=30, seconds=1))
    scheme = scheme_make(world.currency.programme, window_days=30)

    rfm_recompute(scheme.pk, now=world.now)

    got = scores(scheme)
    assert (got[ann.pk].frequency, got[bob.pk].frequency) == (1, 0)


def test_cells_that_leave_a_gap_or_overlap_are_refused_and_nothing_is_written(world):
    buy(world, CustomerFactory(), days_ago=1)
    scheme = scheme_make(world.currency.programme)
    RfmCell.objects.filter(scheme=scheme, code="lost").update(r_max=2)  # over hibernating

    with pytest.raises(RfmCellsInvalid) as caught:
        rfm_recompute(scheme.pk, now=world.now)

    assert "R2 F1" in str(caught.value)
    assert not RfmRun.objects.filter(scheme=scheme).exists()
    assert not RfmScore.objects.filter(scheme=scheme).exists()
    RfmCell.objects.filter(scheme=scheme, code__in=["lost", "hibernating"]).delete()
    with pytest.raises(ValidationError) as gap:
        cells_grid(RfmCell.objects.filter(scheme=scheme))
    assert "R1 F1" in str(gap.value)
    assert "R2 F2" in str(gap.value)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("recency_bounds", "", "Write 4 numbers"),
        ("recency_bounds", "30, 60, 120", "Write 4 numbers"),
        ("recency_bounds", "30, 60, 60, 240", "above the one before"),
        ("frequency_bounds", "1.5, 2, 3, 4", "Whole numbers"),
        ("recency_bounds", "0, 60, 120, 240", "above zero"),
        ("monetary_bounds", "10.001, 20, 30, 40", "two digits"),
        ("monetary_bounds", "ten, 20, 30, 40", "Write four numbers"),
    ],
)
def test_thresholds_are_checked(field, text, message):
    dimension = field.removesuffix("_bounds")
    scheme = RfmScheme(**{f"{dimension}_scoring": "thresholds", f"{dimension}_bounds": text})
    with pytest.raises(ValidationError) as caught:
        scheme.clean()
    assert message in str(caught.value.message_dict[field])


def test_thresholds_are_kept_in_their_canonical_form():
    scheme = RfmScheme(
        recency_scoring="thresholds",
        recency_bounds="30;60  120,240",
        monetary_bounds="not read: quintiles",
    )
    scheme.clean()
    assert scheme.recency_bounds == "30, 60, 120, 240"
