"""The oracle of the behaviour conditions (promo_share, wallet_share, spend_growth,
churn_risk): for random customers and receipts (test_oracle's generators, plus discounts on
some lines, more purchases and fractions of a second), random rules over these kinds nested
with AND / OR / NOT find in SQL exactly the customers a plain Python reading of the
definitions in docs/segments.md finds. Runs on SQLite and on PostgreSQL (DATABASE_URL);
``SEGMENT_ORACLE_EXAMPLES`` examples (30 when unset)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Customer
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from loyalty.models import Receipt, ReceiptLine, ReceiptLineReward
from loyalty.services.ledger import system_accounts_forget
from tests.crm.segments.test_oracle import (  # noqa: F401 (scaffold: the fixture)
    DAY,
    EXAMPLES,
    ZONE,
    Scaffold,
    World,
    _receipt,
    bounds,
    build_world,
    leaf,
    scaffold,
    some,
    windows,
)

pytestmark = pytest.mark.django_db
D = Decimal
ZERO = Decimal(0)
KINDS = ["promo_share", "wallet_share", "spend_growth", "churn_risk"]
COUNTED = ("confirmed", "partially_refunded")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- more rows: discounts, purchases, fractions of a second ---------------------------------


def build_behaviour(data, sc: Scaffold, now: dt.datetime) -> None:
    build_world(data, sc, now)
    draw = data.draw
    for n, customer in enumerate(Customer.objects.order_by("pk")):
        for _ in range(draw(st.integers(0, 3), label="more receipts")):
            _receipt(draw, sc, customer, now, 200 + n)
    for line in ReceiptLine.objects.order_by("pk"):
        if draw(st.integers(0, 2)) == 0:
            off = D(draw(st.sampled_from(["0.01", "10.00", "50.00"]), label="discount"))
            ReceiptLine.objects.filter(pk=line.pk).update(
                discount=off, amount=line.amount + off, price=line.price + off
            )
            receipt = Receipt.objects.get(pk=line.receipt_id)
            Receipt.objects.filter(pk=receipt.pk).update(
                total=receipt.total + off, discount=receipt.discount + off
            )
    for receipt in Receipt.objects.order_by("pk"):
        if draw(st.integers(0, 3), label="fraction") == 0:
            shift = dt.timedelta(microseconds=draw(st.integers(1, 999_999)))
            Receipt.objects.filter(pk=receipt.pk).update(sold_at=receipt.sold_at + shift)


# --- random conditions ------------------------------------------------------------------------


def behaviour_conditions(sc: Scaffold) -> dict:
    ids = lambda rows: some([row.pk for row in rows], 1)  # noqa: E731
    opt = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    percents = st.sampled_from(["0", "10", "25", "33.33", "50", "66.67", "80", "100"])
    promo = st.one_of(
        st.builds(
            lambda b, w, p: leaf("promo_share", basis="discount", lo_hi=(("min", "max"), b),
                                 window=w, partners=p),
            bounds(percents), windows(optional=True), opt(ids(sc.partners)),
        ),
        st.builds(
            lambda pr, b, w: leaf("promo_share", basis="promotions", promotions=pr,
                                  lo_hi=(("min", "max"), b), window=w),
            ids(sc.promotions), bounds(percents), windows(optional=True),
        ),
    )  # fmt: skip
    wallet = st.builds(
        lambda p, cats, b, w: leaf("wallet_share", partners=p, categories=cats,
                                   lo_hi=(("min", "max"), b), window=w),
        opt(ids(sc.partners)), opt(ids(sc.categories)), bounds(percents), windows(optional=True),
    ).filter(lambda n: "partners" in n or "categories" in n)  # fmt: skip
    days = st.integers(1, 200).map(lambda n: {"last_days": n})
    today = timezone.localdate()
    dated = st.tuples(st.integers(0, 150), st.integers(0, 100)).map(
        lambda p: {
            "from": (today - dt.timedelta(days=p[0] + p[1])).isoformat(),
            "to": (today - dt.timedelta(days=p[0])).isoformat(),
        }
    )
    growths = st.sampled_from(["-100", "-50", "-10", "0", "25", "50", "100", "1000"])
    growth = st.builds(
        lambda w, b, p, cats: leaf("spend_growth", window=w, lo_hi=(("min", "max"), b),
                                   partners=p, categories=cats),
        st.one_of(days, dated), bounds(growths), opt(ids(sc.partners)), opt(ids(sc.categories)),
    )  # fmt: skip
    ratios = st.sampled_from(["0", "0.5", "1", "1.5", "2", "3", "10"])
    churn = st.builds(
        lambda b, least, w, p: leaf("churn_risk", lo_hi=(("min", "max"), b), min_purchases=least,
                                    window=w, partners=p),
        bounds(ratios), opt(st.sampled_from([2, 3, 4])), windows(optional=True),
        opt(ids(sc.partners)),
    )  # fmt: skip
    kinds = {"promo_share": promo, "wallet_share": wallet, "spend_growth": growth}
    kinds["churn_risk"] = churn
    return {
        name: strategy.flatmap(
            lambda node: st.booleans().map(lambda negated: {**node, "not": negated})
        )
        for name, strategy in kinds.items()
    }


def behaviour_rules(sc: Scaffold, focus: str):
    cached = sc.strategies.get(f"behaviour {focus}")
    if cached is not None:
        return cached
    kinds = sc.strategies.setdefault("behaviour", behaviour_conditions(sc))
    any_kind = st.one_of(*kinds.values())
    tree = st.recursive(
        any_kind,
        lambda children: st.builds(
            lambda op, negated, items: {"op": op, "not": negated, "items": items},
            st.sampled_from(["and", "or"]),
            st.booleans(),
            st.lists(children, min_size=1, max_size=3),
        ),
        max_leaves=3,
    )
    strategy = st.builds(
        lambda op, negated, first, rest: {"op": op, "not": negated, "items": [first, *rest]},
        st.sampled_from(["and", "or"]),
        st.booleans(),
        kinds[focus],
        st.lists(tree, max_size=1),
    )
    sc.strategies[f"behaviour {focus}"] = strategy
    return strategy


# --- the oracle ---------------------------------------------------------------------------------


def seconds(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(seconds=1)


def _within(part: Decimal, whole: Decimal, lo, hi, offset: Decimal = ZERO) -> bool:
    """``part / whole * 100 - offset`` within lo..hi, by products (whole > 0)."""
    return (lo is None or part * 100 >= (D(lo) + offset) * whole) and (
        hi is None or part * 100 <= (D(hi) + offset) * whole
    )


class BehaviourWorld(World):
    def __init__(self, sc: Scaffold, now: dt.datetime):
        super().__init__(sc, now)
        self.line_rewards = list(
            ReceiptLineReward.objects.values("line_id", "promotion_id", "refund_id")
        )

    def net(self, line) -> Decimal:
        back = sum(
            (
                r["to_pay"]
                for r in self.refund_lines
                if r["line_id"] == line["id"] and r["refund__kind"] == "refund"
            ),
            D("0"),
        )
        return line["to_pay"] - back

    def spend(self, c, fits, partners=None):
        """(line, net money) of the customer's lines that count, sold when ``fits``."""
        out = []
        for line in self.lines:
            r = self.receipts[line["receipt_id"]]
            if (
                r["customer_id"] == c["id"]
                and r["status"] in COUNTED
                and line["quantity"] > line["refunded_quantity"]
                and fits(r["sold_at"])
                and (not partners or r["partner_id"] in partners)
            ):
                out.append((line, self.net(line)))
        return out

    def share(self, lines, ours, n) -> bool:
        total = sum((money for _line, money in lines), D("0"))
        if total <= 0:
            return False
        part = sum((money for line, money in lines if ours(line)), D("0"))
        return _within(part, total, n.get("min"), n.get("max"))

    def k_promo_share(self, n, c):
        lines = self.spend(c, lambda t: self.in_window(n.get("window"), t), n.get("partners"))
        if n["basis"] == "discount":
            return self.share(lines, lambda line: line["discount"] > 0, n)
        return self.share(
            lines,
            lambda line: any(
                w["line_id"] == line["id"]
                and w["promotion_id"] in n["promotions"]
                and w["refund_id"] is None
                for w in self.line_rewards
            ),
            n,
        )

    def k_wallet_share(self, n, c):
        lines = self.spend(c, lambda t: self.in_window(n.get("window"), t))

        def ours(line):
            if (
                "partners" in n
                and self.receipts[line["receipt_id"]]["partner_id"] not in (n["partners"])
            ):
                return False
            return "categories" not in n or self.product_fits(
                {"categories": n["categories"]}, line["product_id"]
            )

        return self.share(lines, ours, n)

    def k_spend_growth(self, n, c):
        window = n["window"]
        if "last_days" in window:
            since, until = self.now - window["last_days"] * DAY, self.now
            before = since - (until - since)
            now_fits = lambda t: since <= t <= until  # noqa: E731
        else:
            start = dt.date.fromisoformat(window["from"])
            end = dt.date.fromisoformat(window["to"]) + DAY
            since = dt.datetime.combine(start, dt.time.min, ZONE)
            until = dt.datetime.combine(end, dt.time.min, ZONE)
            before = dt.datetime.combine(start - (end - start), dt.time.min, ZONE)
            now_fits = lambda t: since <= t < until  # noqa: E731
        lines = self.spend(c, lambda t: True, n.get("partners"))
        if "categories" in n:
            lines = [
                (line, money)
                for line, money in lines
                if self.product_fits({"categories": n["categories"]}, line["product_id"])
            ]
        sold = lambda line: self.receipts[line["receipt_id"]]["sold_at"]  # noqa: E731
        now_spent = sum((m for line, m in lines if now_fits(sold(line))), D("0"))
        spent_before = sum((m for line, m in lines if before <= sold(line) < since), D("0"))
        if spent_before > 0:
            return _within(now_spent, spent_before, n.get("min"), n.get("max"), offset=D(100))
        return now_spent > 0 and "max" not in n

    def k_churn_risk(self, n, c):
        times = [
            seconds(r["sold_at"])
            for r in self.receipts.values()
            if r["customer_id"] == c["id"]
            and r["status"] in COUNTED
            and self.in_window(n.get("window"), r["sold_at"])
            and ("partners" not in n or r["partner_id"] in n["partners"])
        ]
        if len(times) < n.get("min_purchases", 3) or max(times) == min(times):
            return False
        overdue = D((seconds(self.now) - max(times)) * (len(times) - 1))
        span = D(max(times) - min(times))
        lo, hi = n.get("min"), n.get("max")
        return (lo is None or overdue >= D(lo) * span) and (hi is None or overdue <= D(hi) * span)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_sql_membership_of_behaviour_rules_equals_the_python_reading(scaffold, data):  # noqa: F811
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        system_accounts_forget()
        build_behaviour(data, scaffold, now)
        world = BehaviourWorld(scaffold, now)
        for focus in KINDS * 2:
            rule = data.draw(behaviour_rules(scaffold, focus), label=f"rule ({focus})")
            clean = rule_clean(rule, programme_id=scaffold.programme.pk)
            found = set(
                rule_members(clean, programme_id=scaffold.programme.pk, now=now).values_list(
                    "pk", flat=True
                )
            )
            assert found == world.members(clean), clean
        transaction.set_rollback(True)
    system_accounts_forget()
