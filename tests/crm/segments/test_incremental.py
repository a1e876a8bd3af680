"""Incremental refreshes: after random changes (receipts recorded, some uploaded offline with
an old time of sale, refunds, cancellations, genders and answers changed or removed, customers
registered, anonymised, merged), a segment refreshed incrementally has exactly the members and
the history (who entered and left at each refresh) of its twin refreshed in full every time.
Seeded random data, several rounds; both databases (DATABASE_URL). And when a refresh is full
instead: a rule reading the clock or the catalogue, a changed rule, a segment filled by hand
read by the rule, the weekly safety net, the first refresh."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from crm.models import Customer, ProfileAnswer, Segment, SegmentMember, SegmentMembershipChange
from crm.models import SegmentRefresh as Refreshes
from crm.segments.incremental import rule_time_stable
from crm.segments.refresh import segment_refresh
from crm.segments.rules import rule_clean
from crm.services.profile import profile_answer_set
from loyalty.models import Receipt, ReceiptLine, Refund, RefundLine
from tests.factories.crm import (
    CustomerFactory,
    ProfileQuestionChoiceFactory,
    ProfileQuestionFactory,
    SegmentFactory,
)
from tests.factories.loyalty import (
    PartnerFactory,
    ProductFactory,
    ProgrammeFactory,
    StoreFactory,
    TerminalFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal
INCREMENTAL, FULL = Refreshes.Mode.INCREMENTAL, Refreshes.Mode.FULL
CITIES = ["msk", "spb", "nsk"]
MONEY = ["99.90", "150.00", "420.50", "1000.00", "2500.00"]


class World:
    """A programme, two partners, products, a city question and random customers."""

    def __init__(self, rng: random.Random, customers: int):
        self.rng = rng
        self.programme = ProgrammeFactory()
        self.partners = [PartnerFactory(), PartnerFactory()]
        self.stores = [StoreFactory(partner=p) for p in self.partners]
        self.terminals = [TerminalFactory(store=s) for s in self.stores]
        self.products = [ProductFactory(), ProductFactory()]
        self.city = ProfileQuestionFactory(code="inc_city", answer_type="choice")
        for value in CITIES:
            ProfileQuestionChoiceFactory(question=self.city, value=value, label=value)
        self.n = 0
        self.now = timezone.now()
        self.customers = [self.customer() for _ in range(customers)]
        for customer in self.customers:
            for _ in range(rng.randint(0, 4)):
                self.receipt(customer, days_ago=rng.randint(1, 400))
        self.backdate(dt.timedelta(days=30))

    def customer(self) -> Customer:
        rng = self.rng
        customer = CustomerFactory(
            gender=rng.choice(["female", "male", "unknown"]),
            source=rng.choice(["pos", "app"]),
            registered_at=self.now - dt.timedelta(days=rng.randint(1, 900)),
        )
        if rng.random() < 0.6:
            profile_answer_set(customer=customer, question=self.city, value=rng.choice(CITIES))
        return customer

    def receipt(self, customer: Customer, days_ago: int) -> Receipt:
        rng = self.rng
        i = rng.randint(0, 1)
        self.n += 1
        lines = [
            ReceiptLine(
                line_no=no,
                sku=f"S{no}",
                product=rng.choice(self.products),
                quantity=D(rng.choice(["1", "2", "0.5"])),
                price=(money := D(rng.choice(MONEY))),
                amount=money,
                to_pay=money,
            )
            for no in range(1, rng.randint(1, 3) + 1)
        ]
        to_pay = sum((line.to_pay for line in lines), D("0.00"))
        receipt = Receipt.objects.create(
            terminal=self.terminals[i],
            store=self.stores[i],
            partner=self.partners[i],
            receipt_id=f"I{self.n}",
            customer=customer,
            sold_at=self.now - dt.timedelta(days=days_ago, minutes=rng.randint(0, 1439)),
            total=to_pay,
            to_pay=to_pay,
        )
        for line in lines:
            line.receipt = receipt
        ReceiptLine.objects.bulk_create(lines)
        if rng.random() < 0.2:
            self.refund(receipt)
        return receipt

    def refund(self, receipt: Receipt) -> None:
        """A refund or a cancellation as processing.refund writes it: the refund row, the
        lines' refunded quantities and the receipt's status in one go."""
        rng, lines = self.rng, list(receipt.lines.all())
        self.n += 1
        if rng.random() < 0.3:
            Refund.objects.create(
                receipt=receipt, terminal_id=receipt.terminal_id, kind=Refund.Kind.CANCEL,
                refund_id="", fingerprint="x", to_pay=receipt.to_pay,
            )  # fmt: skip
            Receipt.objects.filter(pk=receipt.pk).update(status=Receipt.Status.CANCELLED)
            return
        refund = Refund.objects.create(
            receipt=receipt, terminal_id=receipt.terminal_id, kind=Refund.Kind.REFUND,
            refund_id=f"F{self.n}", fingerprint="x",
        )  # fmt: skip
        total = D("0.00")
        for line in lines[: rng.randint(1, len(lines))]:
            money = line.to_pay
            RefundLine.objects.create(
                refund=refund, line=line, quantity=line.quantity, amount=money, to_pay=money
            )
            ReceiptLine.objects.filter(pk=line.pk).update(refunded_quantity=line.quantity)
            total += money
        Refund.objects.filter(pk=refund.pk).update(to_pay=total, amount=total)
        fully = ReceiptLine.objects.filter(receipt=receipt, refunded_quantity=0).count() == 0
        status = Receipt.Status.REFUNDED if fully else Receipt.Status.PARTIALLY_REFUNDED
        Receipt.objects.filter(pk=receipt.pk).update(status=status)

    def backdate(self, by: dt.timedelta) -> None:
        """Everything written so far as if written ``by`` earlier."""
        then = timezone.now() - by
        Customer.objects.update(updated_at=then, created_at=then)
        ProfileAnswer.objects.update(answered_at=then)
        Receipt.objects.update(recorded_at=then)
        Refund.objects.update(created_at=then)

    def live(self) -> list[Customer]:
        return [c for c in self.customers if not c.is_anonymised and c.merged_into_id is None]

    def change(self) -> None:
        """One random change of the kinds the application makes."""
        rng = self.rng
        customer = rng.choice(self.live())
        what = rng.choice(
            ["receipt", "receipt", "offline", "refund", "gender", "answer", "unanswer",
             "new", "anonymise", "merge"]
        )  # fmt: skip
        if what == "receipt":
            self.receipt(customer, days_ago=0)
        elif what == "offline":  # uploaded now, sold long ago
            self.receipt(customer, days_ago=rng.randint(100, 300))
        elif what == "refund":
            kept = Receipt.objects.filter(customer=customer, status=Receipt.Status.CONFIRMED)
            receipt = kept.order_by("?").first()
            if receipt is not None:
                self.refund(receipt)
        elif what == "gender":
            customer.gender = rng.choice(["female", "male", "unknown"])
            customer.save()
        elif what == "answer":
            profile_answer_set(customer=customer, question=self.city, value=rng.choice(CITIES))
        elif what == "unanswer":
            profile_answer_set(customer=customer, question=self.city, value=None)
        elif what == "new":
            self.customers.append(self.customer())
        elif what == "anonymise":
            customer.is_anonymised, customer.anonymised_at = True, timezone.now()
            customer.save(update_fields=["is_anonymised", "anonymised_at"])
        else:  # merged into another, whose own data then changes too (as the merge does)
            keep = rng.choice([c for c in self.live() if c.pk != customer.pk])
            customer.merged_into, customer.merged_at = keep, timezone.now()
            customer.save(update_fields=["merged_into", "merged_at"])
            ProfileAnswer.objects.filter(customer=customer).exclude(
                question__in=ProfileAnswer.objects.filter(customer=keep).values("question")
            ).update(customer=keep)


def time_stable_rules(w: World, half_year: tuple[str, str], reference: int) -> list[dict]:
    p0, p1 = w.partners[0].pk, w.partners[1].pk
    s0, pr0 = w.stores[0].pk, w.products[0].pk
    window = {"from": half_year[0], "to": half_year[1]}
    city = w.city.pk
    return [
        {"op": "and", "items": [
            {"kind": "purchases", "measure": "count", "min": 1, "window": window, "partners": [p0]},
            {"kind": "purchases", "measure": "count", "min": 1, "window": window, "partners": [p1],
             "not": True},
        ]},
        {"op": "and", "items": [{"kind": "purchases", "measure": "sum", "min": "1000"}]},
        {"op": "and", "items": [{"kind": "purchases", "measure": "count", "max": 1}]},
        {"op": "and", "items": [{"kind": "purchases", "measure": "average", "min": "400",
                                 "max": "2000", "stores": [s0]}]},
        {"op": "and", "items": [{"kind": "purchases", "measure": "units", "min": "2",
                                 "products": [pr0], "window": {"from": half_year[0]}}]},
        {"op": "or", "items": [
            {"op": "and", "items": [
                {"kind": "gender", "genders": ["female"]},
                {"kind": "answer", "question": city, "match": "choice_any", "values": ["msk"]},
            ]},
            {"op": "and", "not": True, "items": [
                {"kind": "source", "sources": ["pos"]},
                {"kind": "registered", "window": {"to": half_year[1]}},
            ]},
        ]},
        {"op": "or", "items": [
            {"kind": "segment", "segment": reference},
            {"op": "and", "items": [
                {"kind": "answer", "question": city, "match": "answered", "not": True},
                {"kind": "purchases", "measure": "count", "min": 2},
            ]},
        ]},
    ]  # fmt: skip


def members(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True))


def history(refresh) -> list[tuple[int, str]]:
    return sorted(
        SegmentMembershipChange.objects.filter(refresh=refresh).values_list("customer_id", "change")
    )


def rules_segment(w: World, rule: dict, code: str) -> Segment:
    return SegmentFactory(
        programme=w.programme,
        code=code,
        kind=Segment.Kind.RULES,
        rule=rule_clean(rule, programme_id=w.programme.pk),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_incremental_refresh_gives_the_members_and_history_of_a_full_one(seed):
    # given random customers and, for each time-stable rule, two segments: one refreshed as
    # the refresh chooses (incrementally once it can), the other always in full
    rng = random.Random(seed)
    w = World(rng, customers=30)
    today = timezone.localdate()
    half_year = ((today - dt.timedelta(days=200)).isoformat(), today.isoformat())
    reference = rules_segment(
        w, {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]}, "ref"
    )
    pairs = []
    for i, rule in enumerate(time_stable_rules(w, half_year, reference.pk)):
        assert rule_time_stable(rule_clean(rule, programme_id=w.programme.pk)), i
        pairs.append((rules_segment(w, rule, f"inc{i}"), rules_segment(w, rule, f"full{i}")))
    segment_refresh(reference.pk)
    for auto, full in pairs:
        assert segment_refresh(auto.pk).mode == FULL  # the first refresh is a full one
        segment_refresh(full.pk, mode=FULL)
    evaluated_somewhere = False
    for _round in range(4):
        # when random changes are made and the segments refreshed again
        for _ in range(rng.randint(1, 8)):
            w.change()
        segment_refresh(reference.pk)
        for auto, full in pairs:
            a = segment_refresh(auto.pk)
            f = segment_refresh(full.pk, mode=FULL)
            # then the incremental one looked at fewer customers and found the same
            assert a.mode == INCREMENTAL
            assert f.mode == FULL
            assert f.evaluated is None
            assert a.evaluated is not None
            assert a.evaluated < Customer.objects.count()
            evaluated_somewhere |= a.evaluated > 0
            assert members(auto) == members(full)
            assert history(a) == history(f)
            assert (a.size, a.entered, a.left) == (f.size, f.entered, f.left)
    assert evaluated_somewhere


def test_a_change_no_timestamp_records_is_caught_by_the_next_full_refresh():
    # given a segment of women refreshed once
    w = World(random.Random(7), customers=10)
    segment = rules_segment(
        w, {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}, "w"
    )
    segment_refresh(segment.pk)
    man = Customer.objects.filter(gender="male").first()
    assert man is not None
    assert man.pk not in members(segment)

    # when a customer is changed behind the application's back (no updated_at)
    Customer.objects.filter(pk=man.pk).update(gender="female")

    # then an incremental refresh does not see it (what the weekly full refresh is for) ...
    assert segment_refresh(segment.pk).mode == INCREMENTAL
    assert man.pk not in members(segment)
    # ... and a full one does
    full = segment_refresh(segment.pk, mode=FULL)
    assert man.pk in members(segment)
    assert full.entered == 1


def test_rules_reading_the_clock_or_the_catalogue_are_always_refreshed_in_full():
    w = World(random.Random(8), customers=5)
    clock = [
        {"kind": "purchases", "measure": "count", "min": 1, "window": {"last_days": 30}},
        {"kind": "purchases", "measure": "recency", "max": 30},
        {
            "kind": "purchases",
            "measure": "sum",
            "min": 1,
            "categories": [w.products[0].category_id],
        },
        {"kind": "age", "min": 18},
        {"kind": "registered", "window": {"last_days": 10}},
        {"kind": "date_near", "source": "birthday", "direction": "next", "days": 7},
    ]
    for i, condition in enumerate(clock):
        rule = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}, condition]}
        segment = rules_segment(w, rule, f"clock{i}")
        assert not rule_time_stable(segment.rule)
        segment_refresh(segment.pk)
        assert segment_refresh(segment.pk).mode == FULL, condition


def test_a_changed_rule_a_manual_reference_and_the_weekly_safety_net_make_it_full():
    w = World(random.Random(9), customers=5)
    women = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}
    segment = rules_segment(w, women, "s")
    assert segment_refresh(segment.pk).mode == FULL
    assert segment_refresh(segment.pk).mode == INCREMENTAL

    # a changed rule: full, then incremental again
    Segment.objects.filter(pk=segment.pk).update(
        rule=rule_clean({**women, "not": True}, programme_id=w.programme.pk)
    )
    assert segment_refresh(segment.pk).mode == FULL
    assert segment_refresh(segment.pk).mode == INCREMENTAL

    # the last full refresh a week old: full
    Refreshes.objects.filter(segment=segment, mode=FULL).update(
        started_at=timezone.now() - dt.timedelta(days=8)
    )
    assert segment_refresh(segment.pk).mode == FULL
    with override_settings(SEGMENT_FULL_REFRESH_DAYS=0):
        assert segment_refresh(segment.pk).mode == FULL

    # a segment filled by hand read by the rule: its removals leave no trace, so full
    manual = SegmentFactory(programme=w.programme, code="hand", kind=Segment.Kind.MANUAL)
    reader = rules_segment(
        w, {"op": "and", "items": [{"kind": "segment", "segment": manual.pk}]}, "r"
    )
    segment_refresh(reader.pk)
    assert segment_refresh(reader.pk).mode == FULL


def test_a_failed_refresh_is_not_what_the_next_one_starts_from():
    w = World(random.Random(10), customers=5)
    segment = rules_segment(
        w, {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]}, "m"
    )
    segment_refresh(segment.pk)
    Refreshes.objects.filter(segment=segment).update(error="boom", size=None)
    assert segment_refresh(segment.pk).mode == FULL


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_on_postgresql_the_change_indexes_exist():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN"
            " ('receipt_recorded_at_brin', 'refund_created_at_brin', 'customer_updated_idx',"
            " 'profile_answer_answered_idx')"
        )
        found = dict(cursor.fetchall())
    assert set(found) == {
        "receipt_recorded_at_brin", "refund_created_at_brin", "customer_updated_idx",
        "profile_answer_answered_idx",
    }  # fmt: skip
    assert "USING brin" in found["receipt_recorded_at_brin"]
