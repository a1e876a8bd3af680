"""The promotion engine alone: microseconds per receipt for 5, 30 and 200 lines against 10, 100
and 1,000 active promotions (no database: the snapshot is built in memory, as compiled).

Each promotion is a percent discount (5, 10 or 20 %) on its own product set of 20 products,
with the condition "the receipt contains at least one of them", in one ``all`` group, with
distinct priorities; the base accrual (2 % points) runs beside them. A receipt's lines are
random products of the 20,000-product catalogue at whole-ruble prices, so every discount is
exact (the same baskets and offers run through django-oscar in bench/oscar_compare/).

    .venv/bin/python -m bench.engine                 # the 3 x 3 table
    .venv/bin/python -m bench.engine --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.common import machine, machine_line

PRODUCTS = 20_000
SET_SIZE = 20
AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def price_of(product_id: int) -> int:
    """Each product's one price, in whole rubles (Oscar reads prices from its stock records)."""
    return 1 + (product_id * 7919) % 500


def scenario(promotions: int, lines: int, seed: int = 1) -> dict:
    """Plain data shared with the Oscar side: offers (products, percent) and baskets."""
    rng = random.Random(seed * 1000 + promotions * 7 + lines)
    offers = [
        {
            "priority": promotions - n,
            "percent": rng.choice([5, 10, 20]),
            "products": list(range(n * SET_SIZE + 1, (n + 1) * SET_SIZE + 1)),
        }
        for n in range(promotions)
    ]
    covered = promotions * SET_SIZE
    baskets = []
    for _ in range(20):
        chosen = rng.sample(range(1, PRODUCTS + 1), lines)
        # Half of the lines are products some promotion covers, when there are enough of them.
        for i in range(0, lines, 2):
            chosen[i] = rng.randint(1, min(covered, PRODUCTS))
        unique = list(dict.fromkeys(chosen))
        while len(unique) < lines:
            extra = rng.randint(1, PRODUCTS)
            if extra not in unique:
                unique.append(extra)
        baskets.append([(pid, rng.randint(1, 3), price_of(pid)) for pid in unique])
    return {"offers": offers, "baskets": baskets}


def our_snapshot(data: dict):
    from promotions.engine.types import (
        ConditionRule,
        CurrencyRule,
        ProductSetRule,
        ProgrammeRule,
        PromotionRule,
        RewardRule,
        RulesSnapshot,
    )

    promotions = []
    for n, offer in enumerate(data["offers"], start=1):
        products = ProductSetRule(id=n, product_ids=frozenset(offer["products"]))
        promotions.append(
            PromotionRule(
                id=n,
                name=f"offer {n}",
                programme_id=1,
                partner_id=None,
                status="active",
                priority=offer["priority"],
                starts_at=AT - timedelta(days=1),
                ends_at=None,
                rewards=(
                    RewardRule(
                        n,
                        "discount_percent",
                        Decimal(offer["percent"]),
                        None,
                        timedelta(0),
                        None,
                        products,
                    ),
                ),
                group_id=1,
                group_mode="all",
                conditions=(
                    ConditionRule(
                        id=n, or_group=1, kind="contains", quantity=Decimal(1), product_set=products
                    ),
                ),
            )
        )
    base = PromotionRule(
        id=len(promotions) + 1,
        name="base 2%",
        programme_id=1,
        partner_id=None,
        status="active",
        priority=-1,
        starts_at=AT - timedelta(days=1),
        ends_at=None,
        rewards=(RewardRule(0, "points_percent", Decimal(2), 1, timedelta(0), None),),
    )
    promotions.append(base)
    promotions.sort(key=lambda p: (-p.priority, p.id))
    return RulesSnapshot(
        version="bench",
        programmes={
            1: ProgrammeRule(
                id=1,
                max_spend_percent=Decimal(50),
                min_money_payment=Decimal("0"),
                offline_spend_cap=Decimal(0),
                main_currency_id=1,
            )
        },
        currencies={1: CurrencyRule(1, "bonus", 2, Decimal(1))},
        promotions=tuple(promotions),
        counters=(),
    )


def our_contexts(data: dict):
    from loyalty.money import line_amount
    from promotions.engine.types import CustomerFacts, LineInput, ReceiptContext

    contexts = []
    for basket in data["baskets"]:
        lines = tuple(
            LineInput(
                line_no=n,
                sku=f"P{pid}",
                quantity=Decimal(qty),
                price=Decimal(price),
                amount=line_amount(Decimal(qty), Decimal(price)),
                product_id=pid,
            )
            for n, (pid, qty, price) in enumerate(basket, start=1)
        )
        contexts.append(
            ReceiptContext(
                programme_id=1,
                partner_id=1,
                store_id=1,
                terminal_id=1,
                channel="store",
                at=AT,
                local_date=date(2026, 3, 10),
                lines=lines,
                customer=CustomerFacts(id=1),
            )
        )
    return contexts


def run_ours(promotions: int, lines: int, repeat: int) -> dict:
    from promotions.engine import evaluate

    data = scenario(promotions, lines)
    snapshot = our_snapshot(data)
    contexts = our_contexts(data)
    for ctx in contexts:  # warm up
        evaluate(snapshot, ctx)
    samples = []
    discounts = []
    for _ in range(repeat):
        for ctx in contexts:
            started = time.perf_counter()
            result = evaluate(snapshot, ctx)
            samples.append((time.perf_counter() - started) * 1e6)
        discounts = [str(evaluate(snapshot, ctx).discount) for ctx in contexts]
    samples.sort()
    return {
        "promotions": promotions,
        "lines": lines,
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95) - 1], 1),
        "receipts": len(samples),
        "discounts": discounts,
        "last_total": str(result.total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", default="5,30,200")
    parser.add_argument("--promotions", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    rows = []
    print(f"machine: {machine_line(machine())}")
    print(f"{'lines':>6} {'promotions':>11} {'median µs':>10} {'p95 µs':>9}")
    for lines in [int(x) for x in args.lines.split(",")]:
        for promotions in [int(x) for x in args.promotions.split(",")]:
            row = run_ours(promotions, lines, max(1, args.repeat))
            rows.append(row)
            print(f"{lines:>6} {promotions:>11} {row['median_us']:>10} {row['p95_us']:>9}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine(), "rows": rows}, out, indent=1)


if __name__ == "__main__":
    main()
