"""django-oscar's side of the engine comparison; runs in Oscar's own venv (see run.py).

For each (lines, promotions) scenario of bench/engine.py: the same offers as ConditionalOffers
(a Range of the offer's 20 products, a Count condition "at least 1", a Percentage benefit,
``exclusive=False``, the same priorities) and the same baskets; times
``Applicator().apply_offers(basket, offers)`` per basket (offers loaded once, outside the
timing; lines fetched inside it, as ``reset_offer_applications`` drops them) and writes the
medians, the query counts and each basket's total discount as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import deque
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from oscar.apps.basket.models import Basket  # noqa: E402
from oscar.apps.catalogue.models import Product, ProductClass  # noqa: E402
from oscar.apps.offer.applicator import Applicator  # noqa: E402
from oscar.apps.offer.models import Benefit, Condition, ConditionalOffer, Range  # noqa: E402
from oscar.apps.partner.models import Partner, StockRecord  # noqa: E402
from oscar.apps.partner.strategy import Default  # noqa: E402

from bench.engine import PRODUCTS, price_of, scenario  # noqa: E402


def catalogue() -> dict[int, Product]:
    product_class = ProductClass.objects.create(name="Goods", track_stock=False)
    partner = Partner.objects.create(name="Bench")
    Product.objects.bulk_create(
        [
            Product(
                title=f"P{n}",
                upc=f"P{n}",
                slug=f"p{n}",
                product_class=product_class,
                structure=Product.STANDALONE,
                is_public=True,
            )
            for n in range(1, PRODUCTS + 1)
        ],
        batch_size=2000,
    )
    products = {int(p.upc[1:]): p for p in Product.objects.all()}
    StockRecord.objects.bulk_create(
        [
            StockRecord(
                product=product,
                partner=partner,
                partner_sku=f"P{n}",
                price=Decimal(price_of(n)),
                num_in_stock=None,
            )
            for n, product in products.items()
        ],
        batch_size=2000,
    )
    return products


def offers_for(data: dict, products: dict[int, Product]) -> list[ConditionalOffer]:
    ConditionalOffer.objects.all().delete()
    Benefit.objects.all().delete()
    Condition.objects.all().delete()
    Range.objects.all().delete()
    made = []
    for n, offer in enumerate(data["offers"], start=1):
        product_range = Range.objects.create(name=f"range {n}", slug=f"range-{n}")
        through = Range.included_products.through
        through.objects.bulk_create(
            [through(range=product_range, product=products[pid]) for pid in offer["products"]]
        )
        condition = Condition.objects.create(range=product_range, type=Condition.COUNT, value=1)
        benefit = Benefit.objects.create(
            range=product_range, type=Benefit.PERCENTAGE, value=Decimal(offer["percent"])
        )
        made.append(
            ConditionalOffer.objects.create(
                name=f"offer {n}",
                slug=f"offer-{n}",
                offer_type=ConditionalOffer.SITE,
                condition=condition,
                benefit=benefit,
                priority=offer["priority"],
                exclusive=False,
            )
        )
    return list(
        ConditionalOffer.objects.select_related("condition__range", "benefit__range").order_by(
            "-priority", "pk"
        )
    )


def baskets_for(data: dict, products: dict[int, Product]) -> list[Basket]:
    baskets = []
    for lines in data["baskets"]:
        basket = Basket.objects.create()
        basket.strategy = Default()
        for pid, quantity, _price in lines:
            basket.add_product(products[pid], quantity)
        baskets.append(basket)
    return baskets


def measure(
    lines: int, promotions: int, repeat: int, products, baskets_max: int, budget_s: float
) -> dict:
    data = scenario(promotions, lines)
    data["baskets"] = data["baskets"][:baskets_max]
    offers = offers_for(data, products)
    baskets = baskets_for(data, products)
    samples, discounts, queries = [], [], []
    applicator = Applicator()
    # Oscar takes seconds per basket on large scenarios: keep each scenario within the budget.
    basket = baskets[0]
    started = time.perf_counter()
    applicator.apply_offers(basket, offers)
    first = time.perf_counter() - started
    rounds = repeat + 1
    if first * len(baskets) * rounds > budget_s:
        rounds = max(1, min(rounds, int(budget_s / max(first * len(baskets), 1e-9))))
        baskets = baskets[: max(1, int(budget_s / max(first * rounds, 1e-9)))]
    for round_ in range(rounds):
        for basket in baskets:
            basket.reset_offer_applications()
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                applicator.apply_offers(basket, offers)
                elapsed = (time.perf_counter() - started) * 1e6
            if round_ == 0:  # discounts and query counts from the first round
                discounts.append(str(basket.total_discount))
                queries.append(len(ctx.captured_queries))
            if round_ > 0 or rounds == 1:
                samples.append(elapsed)
    Basket.objects.all().delete()
    samples.sort()
    return {
        "lines": lines,
        "promotions": promotions,
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95) - 1], 1),
        "queries_per_basket": round(sum(queries) / len(queries), 1),
        "baskets": len(baskets),
        "timed": len(samples),
        "discounts": discounts,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", default="5,30,200")
    parser.add_argument("--promotions", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--baskets", type=int, default=5, help="baskets per scenario (Oscar is slow)"
    )
    parser.add_argument("--budget", type=float, default=60, help="seconds per scenario, about")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    database = Path(os.environ.get("OSCAR_BENCH_DB", "/tmp/oscar-bench.sqlite3"))  # noqa: S108
    database.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    connection.queries_log = deque(maxlen=10_000_000)  # count every query of a big basket
    with transaction.atomic():
        products = catalogue()
    rows = []
    for lines in [int(x) for x in args.lines.split(",")]:
        for promotions in [int(x) for x in args.promotions.split(",")]:
            with transaction.atomic():
                row = measure(lines, promotions, args.repeat, products, args.baskets, args.budget)
            rows.append(row)
            print(
                f"oscar {lines:>4} lines x {promotions:>5} offers: median {row['median_us']} µs,"
                f" {row['queries_per_basket']} queries",
                flush=True,
            )
    Path(args.out).write_text(json.dumps({"django": django.get_version(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
