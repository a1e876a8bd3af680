"""The oracle: for random customers (profiles, answers, family, cars, dates, cards, tiers,
points, receipts with lines, refunds and cancels, rewards, coupons) and random rules (nested
AND / OR / NOT over every kind of condition with random parameters), the members the SQL
finds are exactly those a plain Python reading of the same rule finds.

The Python side is written here from the rule format's definitions (docs/segments.md), apart
from the product code: it reads the rows as they are and decides customer by customer. Runs
on SQLite and on PostgreSQL (DATABASE_URL). Each example builds its rows in a transaction
rolled back at its end; the rows every example shares (programmes, partners, catalogue...)
are made once per test.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import (
    Car,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    ProfileQuestionChoice,
    SegmentMember,
)
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from loyalty.models import (
    Account,
    Card,
    CardType,
    Category,
    Lot,
    Posting,
    Product,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
    RefundLine,
    TierMembership,
)
from loyalty.services.ledger import (
    ACTIVE,
    PENDING,
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
    system_accounts_forget,
)
from promotions.models import Coupon, CouponRedemption, CouponSeries, Promotion, TriggerFiring
from tests.factories.crm import CustomerFactory, ProfileQuestionFactory, SegmentFactory
from tests.factories.loyalty import (
    BrandFactory,
    CardBatchFactory,
    CardFactory,
    CategoryFactory,
    CurrencyFactory,
    PartnerFactory,
    ProductFactory,
    ProgrammeFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal
ZONE = ZoneInfo(django_settings.TIME_ZONE)
DAY = dt.timedelta(days=1)
EXAMPLES = int(os.environ.get("SEGMENT_ORACLE_EXAMPLES", "30"))
# Each example draws one rule for each of these kinds of condition (purchases, the richest,
# three times), beside random conditions of any kind.
KINDS = [
    "purchases", "age", "gender", "registered", "source", "answer", "family", "purchases",
    "car", "date_near", "segment", "card", "tier", "purchases", "balance", "expiring",
    "promotion_reward", "coupon_used",
]  # fmt: skip
SYSTEM = Actor.system("segment oracle")


# --- the rows every example shares ---------------------------------------------------------


@dataclass
class Scaffold:
    programme: object
    other_programme: object
    currencies: list
    partners: list
    stores: list
    terminals: list
    categories: list  # root, its child, the child's child, an unrelated one
    brands: list
    products: list
    tiers: list
    batches: list
    questions: dict  # answer type -> question
    choices: list[str]
    promotions: list
    series: list
    segment: object  # a manual segment the rules may name
    strategies: dict = field(default_factory=dict)  # the rules' strategies, built once


@pytest.fixture
def scaffold() -> Scaffold:
    programme = ProgrammeFactory(code="oracle")
    other = ProgrammeFactory(code="oracle-other")
    currencies = [
        CurrencyFactory(programme=programme, code="oracle-points"),
        CurrencyFactory(programme=programme, code="oracle-stars", is_default=False),
    ]
    partners = [PartnerFactory(), PartnerFactory()]
    stores = [
        StoreFactory(partner=partners[0]),
        StoreFactory(partner=partners[0]),
        StoreFactory(partner=partners[1]),
    ]
    terminals = [TerminalFactory(store=store) for store in stores]
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    grandchild = CategoryFactory(parent=child)
    unrelated = CategoryFactory()
    categories = [root, child, grandchild, unrelated]
    brands = [BrandFactory(), BrandFactory()]
    products = [
        ProductFactory(category=grandchild, brand=brands[0]),
        ProductFactory(category=child, brand=brands[1]),
        ProductFactory(category=unrelated, brand=brands[0]),
        ProductFactory(category=None, brand=None),
    ]
    questions = {
        kind: ProfileQuestionFactory(answer_type=kind)
        for kind in ("text", "number", "date", "boolean", "choice", "multi_choice")
    }
    choices = ["red", "green", "blue"]
    for kind in ("choice", "multi_choice"):
        for value in choices:
            ProfileQuestionChoice.objects.create(question=questions[kind], value=value, label=value)
    promotions = [
        Promotion.objects.create(programme=programme, name=f"Oracle {n}") for n in range(2)
    ]
    series = [
        CouponSeries.objects.create(programme=programme, code=f"ORACLE{n}", name=f"Series {n}")
        for n in range(2)
    ]
    for partner in partners:
        for currency in currencies:
            partner_account(partner, currency)
    return Scaffold(
        programme=programme,
        other_programme=other,
        currencies=currencies,
        partners=partners,
        stores=stores,
        terminals=terminals,
        categories=categories,
        brands=brands,
        products=products,
        tiers=[TierFactory(programme=programme), TierFactory(programme=programme)],
        batches=[CardBatchFactory(programme=programme), CardBatchFactory(programme=programme)],
        questions=questions,
        choices=choices,
        promotions=promotions,
        series=series,
        segment=SegmentFactory(programme=programme),
    )


# --- random rows ---------------------------------------------------------------------------

MONEY = ["0.00", "49.99", "50.00", "100.00", "150.00", "250.50", "999.99"]
QUANTITIES = ["1", "2", "3", "0.500"]
TEXTS = ["Red", "red", "dark RED", "blue", ""]


def some(values, min_size=0, max_size=None):
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=max_size, unique=True)


def build_world(data, sc: Scaffold, now: dt.datetime) -> None:
    """Random customers and everything that hangs on them (rows rolled back after)."""
    today = timezone.localdate(now)
    draw = data.draw
    customers = []
    for n in range(draw(st.integers(2, 6), label="customers")):
        birth = draw(
            st.one_of(
                st.none(),
                st.integers(0, 70 * 366).map(lambda days: today - dt.timedelta(days=days)),
                st.sampled_from([dt.date(1992, 2, 29), dt.date(2000, 2, 28), dt.date(1999, 3, 1)]),
            )
        )
        customer = CustomerFactory(
            gender=draw(st.sampled_from(["female", "male", "unknown"])),
            source=draw(st.sampled_from(["pos", "app", "webshop"])),
            birth_date=birth,
            registered_at=now - dt.timedelta(minutes=draw(st.integers(0, 400 * 1440))),
            is_anonymised=draw(st.integers(0, 9)) == 0,
        )
        if customers and draw(st.integers(0, 9)) == 0:
            customer.merged_into = customers[0]
            customer.merged_at = now
            customer.save(update_fields=["merged_into", "merged_at"])
        customers.append(customer)
        _profile(draw, sc, customer, today)
        _cards_and_tiers(draw, sc, customer, now)
        _points(draw, sc, customer, now)
        for _ in range(draw(st.integers(1, 4), label="receipts")):
            _receipt(draw, sc, customer, now, n)
    if draw(st.booleans()):  # an anonymous purchase
        _receipt(draw, sc, None, now, 99)
    SegmentMember.objects.bulk_create(
        [
            SegmentMember(segment=sc.segment, customer=c)
            for c in customers
            if draw(st.booleans(), label="in segment")
        ]
    )


def _near(draw, today: dt.date) -> dt.date:
    """A date whose day of the year is near today's, in some year, or a 28/29 February."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from([dt.date(2016, 2, 29), dt.date(2015, 2, 28)]))
    day = today + dt.timedelta(days=draw(st.integers(-40, 40)))
    year = draw(st.integers(1960, today.year))
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def _profile(draw, sc: Scaffold, customer, today: dt.date) -> None:
    q = sc.questions
    answers = []
    if draw(st.booleans()):
        answers.append(ProfileAnswer(question=q["text"], value_text=draw(st.sampled_from(TEXTS))))
    if draw(st.booleans()):
        number = draw(st.one_of(st.none(), st.sampled_from(["0", "1.5", "10", "42.0001"])))
        answers.append(ProfileAnswer(question=q["number"], value_number=number and D(number)))
    if draw(st.booleans()):
        answers.append(ProfileAnswer(question=q["date"], value_date=_near(draw, today)))
    if draw(st.booleans()):
        answers.append(
            ProfileAnswer(
                question=q["boolean"], value_bool=draw(st.sampled_from([True, False, None]))
            )
        )
    if draw(st.booleans()):
        answers.append(
            ProfileAnswer(question=q["choice"], value_choices=draw(some(sc.choices, 0, 1)))
        )
    if draw(st.booleans()):
        answers.append(
            ProfileAnswer(question=q["multi_choice"], value_choices=draw(some(sc.choices)))
        )
    for answer in answers:
        answer.customer = customer
    ProfileAnswer.objects.bulk_create(answers)
    family = []
    for _ in range(draw(st.integers(0, 2))):
        relation = draw(st.sampled_from(["child", "pet", "spouse"]))
        family.append(
            FamilyMember(
                customer=customer,
                relation=relation,
                birth_date=None if draw(st.booleans()) else _near(draw, today),
                gender=draw(st.sampled_from(["female", "male", "unknown"])),
                species=draw(st.sampled_from(["Dog", "cat"])) if relation == "pet" else "",
            )
        )
    FamilyMember.objects.bulk_create(family)
    if draw(st.booleans()):
        Car.objects.create(
            customer=customer,
            make=draw(st.sampled_from(["Lada", "LADA", "Kia"])),
            year=draw(st.one_of(st.none(), st.integers(1995, 2025))),
        )
    MemorableDate.objects.bulk_create(
        [
            MemorableDate(
                customer=customer,
                kind=draw(st.sampled_from(["wedding", "name_day", "other"])),
                title="day",
                date=_near(draw, today),
                is_yearly=draw(st.booleans()),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
    )


def _cards_and_tiers(draw, sc: Scaffold, customer, now: dt.datetime) -> None:
    for _ in range(draw(st.integers(0, 2))):
        status = draw(st.sampled_from(["issued", "active", "blocked"]))
        CardFactory(
            customer=customer,
            programme=draw(st.sampled_from([sc.programme, sc.programme, sc.other_programme])),
            card_type=draw(st.sampled_from([CardType.LOYALTY, CardType.LOYALTY, CardType.GIFT])),
            status=status,
            batch=draw(st.sampled_from([None, *sc.batches])),
            activated_at=now if status == "active" else None,
            blocked_at=now if status == "blocked" else None,
        )
    if draw(st.booleans()):
        TierMembership.objects.create(
            customer=customer, programme=sc.programme, tier=draw(st.sampled_from(sc.tiers))
        )


def _points(draw, sc: Scaffold, customer, now: dt.datetime) -> None:
    for currency in sc.currencies:
        legs = []
        for _ in range(draw(st.integers(0, 2))):
            pending = draw(st.integers(0, 4)) == 0
            expires = draw(
                st.one_of(
                    st.none(),
                    st.integers(-5 * 1440, 40 * 1440).map(lambda m: now + dt.timedelta(minutes=m)),
                    st.integers(0, 40).map(lambda days: now + dt.timedelta(days=days)),
                )
            )
            active_at = now + dt.timedelta(days=1) if pending else now - dt.timedelta(days=60)
            if pending and expires is not None and expires <= active_at:
                expires = active_at + dt.timedelta(days=30)
            legs.append(
                Leg(
                    account=customer_account(customer, currency),
                    amount=D(draw(st.sampled_from(["10.00", "25.50", "100.00"]))),
                    bucket=PENDING if pending else ACTIVE,
                    active_at=active_at,
                    expires_at=expires,
                )
            )
        if legs:
            total = sum((leg.amount for leg in legs), D("0"))
            partner = sc.partners[0]
            legs.append(Leg(account=partner_account(partner, currency), amount=-total))
            postings_create(
                [
                    PostingSpec(
                        kind=Posting.Kind.ADJUST,
                        cause=Posting.Cause.IMPORT,
                        actor=SYSTEM,
                        legs=legs,
                        partner=partner,
                    )
                ]
            )


def _receipt(draw, sc: Scaffold, customer, now: dt.datetime, n: int) -> None:
    index = draw(st.integers(0, 2))
    store, terminal = sc.stores[index], sc.terminals[index]
    # any minute of 200 days, or exactly whole days back: on the edges of windows and
    # recency bounds (whole days from 1 to 201 on the edge of "at most N days")
    on_edge = st.sampled_from([1, 10, 11, 20, 21, 31, 51, 61, 200]).map(lambda d: d * 1440)
    minutes = draw(st.one_of(st.integers(0, 200 * 1440), on_edge))
    sold_at = now - dt.timedelta(minutes=minutes)
    lines = []
    for no in range(1, draw(st.sampled_from([1, 2, 0, 3])) + 1):
        money = D(draw(st.sampled_from(MONEY)))
        lines.append(
            ReceiptLine(
                line_no=no,
                sku=f"S{no}",
                product=draw(st.sampled_from([None, *sc.products])),
                quantity=D(draw(st.sampled_from(QUANTITIES))),
                price=money,
                amount=money,
                to_pay=money,
            )
        )
    to_pay = (
        sum((line.to_pay for line in lines), D("0.00"))
        if lines
        else D(draw(st.sampled_from(MONEY)))
    )
    fate = (
        draw(st.sampled_from(["refund all", "kept", "refund", "cancel", "kept"]))
        if lines
        else draw(st.sampled_from(["kept", "cancel"]))
    )
    receipt = Receipt.objects.create(
        terminal=terminal,
        store=store,
        partner=store.partner,
        receipt_id=f"R{n}-{Receipt.objects.count()}",
        customer=customer,
        sold_at=sold_at,
        total=to_pay,
        to_pay=to_pay,
        status=Receipt.Status.CANCELLED if fate == "cancel" else Receipt.Status.CONFIRMED,
    )
    for line in lines:
        line.receipt = receipt
    ReceiptLine.objects.bulk_create(lines)
    refund = None
    if fate.startswith("refund"):
        refund = _refund(draw, receipt, terminal, lines, whole=fate == "refund all")
    elif fate == "cancel" and draw(st.booleans()):
        Refund.objects.create(
            receipt=receipt, terminal=terminal, kind=Refund.Kind.CANCEL, refund_id="",
            fingerprint="x", to_pay=to_pay,
        )  # fmt: skip
    _rewards_and_coupons(draw, sc, customer, receipt, lines, refund, now)


def _refund(draw, receipt, terminal, lines, whole: bool):
    refund = Refund.objects.create(
        receipt=receipt, terminal=terminal, kind=Refund.Kind.REFUND,
        refund_id=f"F{receipt.pk}", fingerprint="x",
    )  # fmt: skip
    total = D("0.00")
    for line in lines:
        if not whole and line.line_no > 1 and not draw(st.booleans(), label="line refunded"):
            continue  # the first line is always refunded, in part or whole
        all_of_it = whole or draw(st.booleans()) or line.quantity < 1
        quantity = line.quantity if all_of_it else D("1")
        money = (line.to_pay * quantity / line.quantity).quantize(D("0.01"))
        RefundLine.objects.create(
            refund=refund, line=line, quantity=quantity, amount=money, to_pay=money
        )
        line.refunded_quantity = quantity
        line.save(update_fields=["refunded_quantity"])
        total += money
    Refund.objects.filter(pk=refund.pk).update(to_pay=total, amount=total)
    fully = all(line.refunded_quantity == line.quantity for line in lines)
    receipt.status = (
        Receipt.Status.REFUNDED
        if fully
        else Receipt.Status.PARTIALLY_REFUNDED
        if total or any(line.refunded_quantity for line in lines)
        else Receipt.Status.CONFIRMED
    )
    receipt.save(update_fields=["status"])
    return refund


def _rewards_and_coupons(draw, sc, customer, receipt, lines, refund, now) -> None:
    for line in lines:
        if draw(st.integers(0, 2)) == 0:
            promotion = draw(st.sampled_from(sc.promotions))
            ReceiptLineReward.objects.create(
                line=line, promotion=promotion, effect="discount", amount=D("1")
            )
            if refund is not None and draw(st.booleans()):
                ReceiptLineReward.objects.create(
                    line=line, refund=refund, promotion=draw(st.sampled_from(sc.promotions)),
                    effect="discount", amount=D("-1"),
                )  # fmt: skip
    if customer is None:
        return
    if draw(st.integers(0, 2)) == 0:
        TriggerFiring.objects.get_or_create(
            promotion=draw(st.sampled_from(sc.promotions)),
            customer=customer,
            key=f"k{receipt.pk}",
            defaults={
                "occurred_at": now,
                "fired_at": now - dt.timedelta(minutes=draw(st.integers(0, 100 * 1440))),
            },
        )
    if draw(st.integers(0, 2)) == 0:
        coupon = Coupon.objects.create(
            series=draw(st.sampled_from(sc.series)),
            code=f"C{receipt.pk}",
            customer=customer,
            valid_from=now - dt.timedelta(days=400),
        )
        CouponRedemption.objects.create(
            coupon=coupon,
            receipt=receipt,
            customer=customer,
            redeemed_at=now - dt.timedelta(minutes=draw(st.integers(0, 100 * 1440))),
            returned_at=now if draw(st.integers(0, 3)) == 0 else None,
        )


# --- random rules --------------------------------------------------------------------------


def windows(optional: bool):
    days = st.integers(1, 200)
    today = timezone.localdate()
    some_date = st.integers(0, 220).map(lambda back: today - dt.timedelta(days=back))
    dated = st.tuples(st.one_of(st.none(), some_date), st.one_of(st.none(), some_date)).filter(
        lambda pair: pair != (None, None)
    )

    def as_window(pair):
        start, end = pair
        if start and end and start > end:
            start, end = end, start
        out = {}
        if start:
            out["from"] = start.isoformat()
        if end:
            out["to"] = end.isoformat()
        return out

    window = st.one_of(days.map(lambda n: {"last_days": n}), dated.map(as_window))
    return st.one_of(st.none(), window) if optional else window


def _order(value):
    try:
        return D(str(value))
    except (ArithmeticError, ValueError, TypeError):
        return value


def bounds(values, *, one_needed=True):
    """(lo, hi), either None, never lo > hi."""
    pair = st.tuples(st.one_of(st.none(), values), st.one_of(st.none(), values))
    if one_needed:
        pair = pair.filter(lambda p: p != (None, None))
    return pair.map(lambda p: tuple(sorted(p, key=_order)) if None not in p else p)


def leaf(kind: str, *, lo_hi=None, **params):
    out = {"kind": kind, **{k: v for k, v in params.items() if v is not None}}
    if lo_hi is not None:
        names, (lo, hi) = lo_hi
        if lo is not None:
            out[names[0]] = lo
        if hi is not None:
            out[names[1]] = hi
    return out


def conditions(sc: Scaffold) -> dict:
    """A strategy per kind of condition, each with a random ``not``."""
    ids = lambda rows: some([row.pk for row in rows], 1)  # noqa: E731
    opt = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    money = st.sampled_from(["0", "50.00", "99.99", "100", "150.00", "250.50", "300", "1000"])
    questions = sc.questions
    answer = st.one_of(
        st.builds(lambda q: leaf("answer", question=q.pk, match="answered"), st.sampled_from(list(questions.values()))),
        st.builds(lambda op, text: leaf("answer", question=questions["text"].pk, match=op, text=text),
                  st.sampled_from(["text_equals", "text_contains"]), st.sampled_from(["red", "RED", "dark", "blue"])),
        st.builds(lambda b: leaf("answer", question=questions["number"].pk, match="number_between", lo_hi=(("min", "max"), b)),
                  bounds(st.sampled_from(["0", "1.5", "10", "42.0001", "100"]))),
        st.builds(lambda b: leaf("answer", question=questions["date"].pk, match="date_between", lo_hi=(("from", "to"), b)),
                  bounds(st.sampled_from(["1970-01-01", "1995-06-15", "2016-02-29", "2020-01-01"]))),
        st.builds(lambda op: leaf("answer", question=questions["boolean"].pk, match=op), st.sampled_from(["is_true", "is_false"])),
        st.builds(lambda q, op, values: leaf("answer", question=questions[q].pk, match=op, values=values),
                  st.sampled_from(["choice", "multi_choice"]), st.just("choice_any"), some(sc.choices, 1)),
        st.builds(lambda values: leaf("answer", question=questions["multi_choice"].pk, match="choice_all", values=values),
                  some(sc.choices, 1)),
    )  # fmt: skip
    filters = {
        "partners": ids(sc.partners),
        "stores": ids(sc.stores),
        "categories": ids(sc.categories),
        "brands": ids(sc.brands),
        "products": ids(sc.products),
    }
    some_filters = st.sampled_from(
        [
            (),
            (),
            ("partners",),
            ("stores",),
            ("categories",),
            ("brands",),
            ("products",),
            ("categories", "partners"),
        ]
    ).flatmap(lambda names: st.fixed_dictionaries({name: filters[name] for name in names}))
    purchases = st.builds(
        lambda measure, b, window, chosen: leaf(
            "purchases", measure=measure, lo_hi=(("min", "max"), b), window=window, **chosen
        ),
        st.sampled_from(["count", "sum", "average", "units", "recency"]),
        bounds(money),
        windows(optional=True),
        some_filters,
    ).map(_fit_purchase_bounds)  # fmt: skip
    kinds = {
        "age": st.builds(lambda b: leaf("age", lo_hi=(("min", "max"), b)), bounds(st.integers(0, 70))),
        "gender": st.builds(lambda g: leaf("gender", genders=g), some(["female", "male", "unknown"], 1)),
        "registered": st.builds(lambda w: leaf("registered", window=w), windows(optional=False)),
        "source": st.builds(lambda s: leaf("source", sources=s), some(["pos", "app", "webshop"], 1)),
        "answer": answer,
        "family": st.builds(
            lambda relation, b, genders, species: leaf(
                "family", relation=relation, lo_hi=(("age_min", "age_max"), b), genders=genders,
                species=species if relation == "pet" else None,
            ),
            st.sampled_from(["child", "pet", "spouse"]), bounds(st.integers(0, 60), one_needed=False),
            opt(some(["female", "male"], 1)), opt(st.sampled_from(["dog", "CAT", "parrot"])),
        ),
        "car": st.builds(
            lambda make, b: leaf("car", make=make, lo_hi=(("year_min", "year_max"), b)),
            opt(st.sampled_from(["lada", "Kia", "Volvo"])), bounds(st.integers(1995, 2025), one_needed=False),
        ),
        "date_near": st.builds(
            lambda source, kinds, relations, direction, days: leaf(
                "date_near", source=source, direction=direction, days=days,
                kinds=kinds if source == "memorable" else None,
                relations=relations if source == "family" else None,
            ),
            st.sampled_from(["birthday", "memorable", "family"]), opt(some(["wedding", "name_day", "other"], 1)),
            opt(some(["child", "pet", "spouse"], 1)), st.sampled_from(["next", "last"]),
            st.one_of(st.integers(0, 45), st.integers(0, 366)),
        ),
        "segment": st.just(leaf("segment", segment=sc.segment.pk)),
        "card": st.builds(lambda statuses, batches: leaf("card", statuses=statuses, batches=batches),
                  opt(some(["issued", "active", "blocked"], 1)), opt(ids(sc.batches))),
        "tier": st.builds(lambda tiers: leaf("tier", tiers=tiers), ids(sc.tiers)),
        "balance": st.builds(lambda c, b: leaf("balance", currency=c.pk, lo_hi=(("min", "max"), b)),
                  st.sampled_from(sc.currencies), bounds(st.sampled_from(["0", "10", "25.5", "35.50", "100", "-1"]))),
        "expiring": st.builds(lambda c, days, least: leaf("expiring", currency=c.pk, days=days, min=least),
                  st.sampled_from(sc.currencies), st.integers(1, 45), opt(st.sampled_from(["10", "25.5", "35.50", "100"]))),
        "purchases": purchases,
        "promotion_reward": st.builds(lambda p, w: leaf("promotion_reward", promotions=p, window=w), ids(sc.promotions), windows(optional=True)),
        "coupon_used": st.builds(lambda s, w: leaf("coupon_used", series=s, window=w), ids(sc.series), windows(optional=True)),
    }  # fmt: skip
    return {
        name: strategy.flatmap(
            lambda node: st.booleans().map(lambda negated: {**node, "not": negated})
        )
        for name, strategy in kinds.items()
    }


def _fit_purchase_bounds(node: dict) -> dict:
    """Counts, units and days on their own scale (whole numbers) from the money bounds."""
    scale = {"count": 50, "units": 50, "recency": 5}.get(node["measure"])
    if scale:
        for name in ("min", "max"):
            if name in node:
                node[name] = int(D(node[name]) // scale)
    return node


def rules(sc: Scaffold, focus: str):
    """A rule with a condition of kind ``focus`` at the top, beside a random tree of any
    kinds (each example draws a rule for every kind, so each is drawn as often)."""
    cached = sc.strategies.get(focus)
    if cached is not None:
        return cached
    kinds = sc.strategies.setdefault("kinds", conditions(sc))
    any_kind = st.one_of(*kinds.values())

    def groups(children):
        return st.builds(
            lambda op, negated, items: {"op": op, "not": negated, "items": items},
            st.sampled_from(["and", "or"]),
            st.booleans(),
            st.lists(children, min_size=1, max_size=3),
        )

    tree = st.recursive(any_kind, groups, max_leaves=4)
    sc.strategies[focus] = st.builds(
        lambda op, negated, first, rest: {"op": op, "not": negated, "items": [first, *rest]},
        st.sampled_from(["and", "or"]),
        st.booleans(),
        kinds[focus],
        st.lists(tree, max_size=2),
    )
    return sc.strategies[focus]


# --- the oracle: the same rule, in plain Python ---------------------------------------------


class World:
    """The rows of one example, read back as they are."""

    def __init__(self, sc: Scaffold, now: dt.datetime):
        self.sc, self.now, self.today = sc, now, timezone.localdate(now)
        self.customers = list(Customer.objects.values())
        self.answers = {
            (a["customer_id"], a["question_id"]): a for a in ProfileAnswer.objects.values()
        }
        self.family = _by_customer(FamilyMember.objects.values())
        self.cars = _by_customer(Car.objects.values())
        self.dates = _by_customer(MemorableDate.objects.values())
        self.in_segment = set(
            SegmentMember.objects.filter(segment=sc.segment).values_list("customer_id", flat=True)
        )
        self.cards = _by_customer(Card.objects.values())
        self.tiers = _by_customer(TierMembership.objects.values())
        self.accounts = {
            (a["customer_id"], a["currency_id"]): a
            for a in Account.objects.filter(kind="customer").values()
        }
        self.lots = list(
            Lot.objects.values(
                "account__customer_id",
                "account__currency_id",
                "kind",
                "state",
                "remaining",
                "expires_at",
            )
        )
        self.receipts = {r["id"]: r for r in Receipt.objects.values()}
        self.refunds = list(Refund.objects.values())
        self.lines = list(ReceiptLine.objects.values())
        self.refund_lines = list(RefundLine.objects.values("line_id", "refund__kind", "to_pay"))
        self.products = {p["id"]: p for p in Product.objects.values()}
        self.parents = dict(Category.objects.values_list("id", "parent_id"))
        self.rewards = list(
            ReceiptLineReward.objects.values("line__receipt_id", "promotion_id", "refund_id")
        )
        self.firings = list(TriggerFiring.objects.values())
        self.redemptions = list(CouponRedemption.objects.values("customer_id", "coupon__series_id", "returned_at", "receipt__status", "redeemed_at"))  # fmt: skip

    def members(self, rule: dict) -> set[int]:
        return {
            c["id"]
            for c in self.customers
            if not c["is_anonymised"] and c["merged_into_id"] is None and self.holds(rule, c)
        }

    def holds(self, node: dict, c: dict) -> bool:
        if "kind" not in node:
            results = [self.holds(item, c) for item in node["items"]]
            value = all(results) if node["op"] == "and" else any(results)
        else:
            value = getattr(self, "k_" + node["kind"])(node, c)
        return value != bool(node.get("not"))

    # the window: the last N×24 hours up to now, or local dates from..to
    def in_window(self, window, moment) -> bool:
        if window is None:
            return True
        if "last_days" in window:
            return self.now - window["last_days"] * DAY <= moment <= self.now
        day = moment.astimezone(ZONE).date()
        start, end = window.get("from"), window.get("to")
        return (start is None or dt.date.fromisoformat(start) <= day) and (
            end is None or day <= dt.date.fromisoformat(end)
        )

    def age(self, born: dt.date | None) -> int | None:
        if born is None:
            return None
        t = self.today
        return t.year - born.year - ((t.month, t.day) < (born.month, born.day))

    def k_age(self, n, c):
        age = self.age(c["birth_date"])
        return age is not None and _between(age, n.get("min"), n.get("max"))

    def k_gender(self, n, c):
        return c["gender"] in n["genders"]

    def k_registered(self, n, c):
        return self.in_window(n["window"], c["registered_at"])

    def k_source(self, n, c):
        return c["source"] in n["sources"]

    def k_answer(self, n, c):
        a = self.answers.get((c["id"], n["question"]))
        if a is None:
            return False
        op = n["match"]
        if op == "answered":
            return (
                bool(a["value_text"])
                or a["value_choices"] != []
                or any(a[f] is not None for f in ("value_number", "value_date", "value_bool"))
            )
        if op == "text_equals":
            return a["value_text"].lower() == n["text"].lower()
        if op == "text_contains":
            return n["text"].lower() in a["value_text"].lower()
        if op == "number_between":
            return a["value_number"] is not None and _between(
                a["value_number"], _d(n.get("min")), _d(n.get("max"))
            )
        if op == "date_between":
            return a["value_date"] is not None and _between(
                a["value_date"], _date(n.get("from")), _date(n.get("to"))
            )
        if op in ("is_true", "is_false"):
            return a["value_bool"] is (op == "is_true")
        found = [value in a["value_choices"] for value in n["values"]]
        return all(found) if op == "choice_all" else any(found)

    def k_family(self, n, c):
        for f in self.family[c["id"]]:
            if f["relation"] != n["relation"]:
                continue
            if ("age_min" in n or "age_max" in n) and not (
                self.age(f["birth_date"]) is not None
                and _between(self.age(f["birth_date"]), n.get("age_min"), n.get("age_max"))
            ):
                continue
            if "genders" in n and f["gender"] not in n["genders"]:
                continue
            if "species" in n and n["species"].lower() not in f["species"].lower():
                continue
            return True
        return False

    def k_car(self, n, c):
        return any(
            ("make" not in n or car["make"].lower() == n["make"].lower())
            and ("year_min" not in n or (car["year"] is not None and car["year"] >= n["year_min"]))
            and ("year_max" not in n or (car["year"] is not None and car["year"] <= n["year_max"]))
            for car in self.cars[c["id"]]
        )

    def k_date_near(self, n, c):
        if n["direction"] == "next":
            days = [self.today + i * DAY for i in range(n["days"] + 1)]
        else:
            days = [self.today - i * DAY for i in range(n["days"] + 1)]
        if n["source"] == "birthday":
            return _yearly_in(c["birth_date"], days)
        if n["source"] == "family":
            return any(
                ("relations" not in n or f["relation"] in n["relations"])
                and _yearly_in(f["birth_date"], days)
                for f in self.family[c["id"]]
            )
        return any(
            ("kinds" not in n or d["kind"] in n["kinds"])
            and (_yearly_in(d["date"], days) if d["is_yearly"] else d["date"] in days)
            for d in self.dates[c["id"]]
        )

    def k_segment(self, n, c):
        return c["id"] in self.in_segment

    def k_card(self, n, c):
        return any(
            card["programme_id"] == self.sc.programme.pk
            and card["card_type"] == "loyalty"
            and ("statuses" not in n or card["status"] in n["statuses"])
            and ("batches" not in n or card["batch_id"] in n["batches"])
            for card in self.cards[c["id"]]
        )

    def k_tier(self, n, c):
        return any(
            t["programme_id"] == self.sc.programme.pk and t["tier_id"] in n["tiers"]
            for t in self.tiers[c["id"]]
        )

    def k_balance(self, n, c):
        account = self.accounts.get((c["id"], n["currency"]))
        balance = account["balance"] if account else D("0")
        return _between(balance, _d(n.get("min")), _d(n.get("max")))

    def k_expiring(self, n, c):
        until = self.now + n["days"] * DAY
        total = sum(
            (
                lot["remaining"]
                for lot in self.lots
                if lot["account__customer_id"] == c["id"]
                and lot["account__currency_id"] == n["currency"]
                and lot["kind"] == "earn"
                and lot["state"] == "active"
                and lot["remaining"] > 0
                and lot["expires_at"] is not None
                and self.now < lot["expires_at"] <= until
            ),
            D("0"),
        )
        return total >= D(n["min"]) if "min" in n else total > 0

    def k_purchases(self, n, c):
        receipts = {
            rid: r
            for rid, r in self.receipts.items()
            if r["customer_id"] == c["id"]
            and r["status"] in ("confirmed", "partially_refunded")
            and self.in_window(n.get("window"), r["sold_at"])
            and ("partners" not in n or r["partner_id"] in n["partners"])
            and ("stores" not in n or r["store_id"] in n["stores"])
        }
        by_lines = n["measure"] == "units" or any(
            k in n for k in ("categories", "brands", "products")
        )
        if by_lines:
            lines = [
                line
                for line in self.lines
                if line["receipt_id"] in receipts
                and line["quantity"] > line["refunded_quantity"]
                and self.product_fits(n, line["product_id"])
            ]
            counted = {line["receipt_id"] for line in lines}
            money = sum(
                (
                    line["to_pay"]
                    - sum(
                        (
                            r["to_pay"]
                            for r in self.refund_lines
                            if r["line_id"] == line["id"] and r["refund__kind"] == "refund"
                        ),
                        D("0"),
                    )
                    for line in lines
                ),
                D("0"),
            )
            units = sum((line["quantity"] - line["refunded_quantity"] for line in lines), D("0"))
        else:
            counted = set(receipts)
            money = sum(
                (
                    receipts[rid]["to_pay"]
                    - sum(
                        (
                            f["to_pay"]
                            for f in self.refunds
                            if f["receipt_id"] == rid and f["kind"] == "refund"
                        ),
                        D("0"),
                    )
                    for rid in counted
                ),
                D("0"),
            )
            units = D("0")
        lo, hi = _d(n.get("min")), _d(n.get("max"))
        measure = n["measure"]
        if measure == "count":
            return _between(len(counted), lo, hi)
        if measure == "sum":
            return _between(money, lo, hi)
        if measure == "units":
            return _between(units, lo, hi)
        if not counted:
            return False
        if measure == "average":  # money / count within lo..hi
            n_counted = len(counted)
            return (lo is None or money >= lo * n_counted) and (
                hi is None or money <= hi * n_counted
            )
        last = max(self.receipts[rid]["sold_at"] for rid in counted)
        return _between((self.now - last) // DAY, lo, hi)

    def product_fits(self, n, product_id) -> bool:
        product = self.products.get(product_id)
        if "categories" in n:
            if product is None or not self.under(product["category_id"], n["categories"]):
                return False
        if "brands" in n and (product is None or product["brand_id"] not in n["brands"]):
            return False
        return "products" not in n or product_id in n["products"]

    def under(self, category_id, roots) -> bool:
        node = category_id
        while node is not None:
            if node in roots:
                return True
            node = self.parents[node]
        return False

    def k_promotion_reward(self, n, c):
        window = n.get("window")
        by_sale = any(
            r["promotion_id"] in n["promotions"]
            and r["refund_id"] is None
            and self.receipts[r["line__receipt_id"]]["customer_id"] == c["id"]
            and self.receipts[r["line__receipt_id"]]["status"] != "cancelled"
            and self.in_window(window, self.receipts[r["line__receipt_id"]]["sold_at"])
            for r in self.rewards
        )
        return by_sale or any(
            f["customer_id"] == c["id"]
            and f["promotion_id"] in n["promotions"]
            and self.in_window(window, f["fired_at"])
            for f in self.firings
        )

    def k_coupon_used(self, n, c):
        return any(
            r["customer_id"] == c["id"]
            and r["coupon__series_id"] in n["series"]
            and r["returned_at"] is None
            and r["receipt__status"] != "cancelled"
            and self.in_window(n.get("window"), r["redeemed_at"])
            for r in self.redemptions
        )


def _by_customer(rows) -> dict[int, list[dict]]:
    found = defaultdict(list)
    for row in rows:
        found[row["customer_id"]].append(row)
    return found


def _between(value, lo, hi) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _d(raw) -> Decimal | None:
    return None if raw is None else D(str(raw))


def _date(raw) -> dt.date | None:
    return None if raw is None else dt.date.fromisoformat(raw)


def _yearly_in(anchor: dt.date | None, days: list[dt.date]) -> bool:
    """Whether the anchor's yearly occurrence (29 February on 28 February in common years)
    is one of ``days``."""
    if anchor is None:
        return False
    for day in days:
        if (anchor.month, anchor.day) == (day.month, day.day):
            return True
        if (anchor.month, anchor.day) == (2, 29) and (day.month, day.day) == (2, 28):
            if not calendar.isleap(day.year):
                return True
    return False


# --- the test ------------------------------------------------------------------------------


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_sql_membership_equals_the_python_reading_of_the_rule(scaffold, data):
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        system_accounts_forget()
        build_world(data, scaffold, now)
        world = World(scaffold, now)
        for focus in KINDS:
            rule = data.draw(rules(scaffold, focus), label=f"rule ({focus})")
            clean = rule_clean(rule, programme_id=scaffold.programme.pk)
            found = set(
                rule_members(clean, programme_id=scaffold.programme.pk, now=now).values_list(
                    "pk", flat=True
                )
            )
            assert found == world.members(clean), clean
        transaction.set_rollback(True)
    system_accounts_forget()
