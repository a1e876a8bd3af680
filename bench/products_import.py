"""Benchmark of the bulk product catalogue import: a first load, then a re-import that updates
a tenth of the products and leaves the rest unchanged.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.products_import --rows 100000

Generates a CSV of ``--rows`` products (SKU, name, category, brand) for a new partner, runs
the import service end to end twice (``products_import_bulk``: read, check every row, look up
the existing products, write in chunks, commit): once into an empty catalogue (all new), once
with every tenth name changed (updates and unchanged rows), and prints both times and the
machine. The partner and its products are removed at the end unless ``--keep``. Runs on any
migrated database (SQLite too: ``DATABASE_URL=sqlite:////tmp/bench.sqlite3``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS_DIR, machine, machine_line

CATEGORIES = 50
BRANDS = 200


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a migrated database (PostgreSQL, or a SQLite file).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def generate(path: Path, rows: int, stamp: str, *, renamed_every: int = 0) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sku", "name", "category", "brand", "is_active"])
        for i in range(rows):
            name = f"Product {i}"
            if renamed_every and i % renamed_every == 0:
                name += " (new pack)"
            writer.writerow(
                [
                    f"46{i:011d}",
                    name,
                    f"bench-{stamp}-c{i % CATEGORIES}",
                    f"Bench {stamp} b{i % BRANDS}",
                    "yes",
                ]
            )


def run_import(path: Path, partner):
    from loyalty.services.product_import import products_import_bulk

    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as stream:
        report = products_import_bulk(stream, default_partner=partner)
    elapsed = time.perf_counter() - started
    if not report.ok:
        sys.exit(f"the import failed: {report.errors[:5]}")
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the partner and its products")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from loyalty.models import Brand, Category, Partner, Product

    pg_version = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    partner = Partner.objects.create(
        code=f"bench-products-{stamp}",
        name=f"Products benchmark {stamp}",
        legal_name="Benchmark",
        tax_id=f"{secrets.randbelow(10**10):010d}",
    )
    categories = Category.objects.bulk_create(
        Category(code=f"bench-{stamp}-c{i}", name=f"Bench {i}") for i in range(CATEGORIES)
    )
    brands = Brand.objects.bulk_create(Brand(name=f"Bench {stamp} b{i}") for i in range(BRANDS))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            first, second = Path(tmp) / "first.csv", Path(tmp) / "second.csv"
            generate(first, args.rows, stamp)
            generate(second, args.rows, stamp, renamed_every=10)
            size_mb = first.stat().st_size / 1e6
            load_s, loaded = run_import(first, partner)
            update_s, updated = run_import(second, partner)
        count = Product.objects.filter(partner=partner).count()
    finally:
        if not args.keep:
            Product.objects.filter(partner=partner).delete()
            Category.objects.filter(pk__in=[c.pk for c in categories]).delete()
            Brand.objects.filter(pk__in=[b.pk for b in brands]).delete()
            partner.delete()

    info = machine(pg_version)
    result = {
        "rows": args.rows,
        "database": connection.vendor,
        "csv_mb": round(size_mb, 1),
        "load_s": round(load_s, 2),
        "load_created": loaded.created,
        "reimport_s": round(update_s, 2),
        "reimport_updated": updated.updated,
        "reimport_unchanged": updated.unchanged,
        "products": count,
        "machine": info,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(
        f"product import benchmark: {args.rows:,} rows, CSV {size_mb:.1f} MB, {connection.vendor}"
    )
    print("| run | seconds | rows/s | new | updated | unchanged |")
    print("| --- | --: | --: | --: | --: | --: |")
    for label, seconds, report in (
        ("first load (all new)", load_s, loaded),
        ("re-import (every 10th renamed)", update_s, updated),
    ):
        print(
            f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} | {report.created:,} | "
            f"{report.updated:,} | {report.unchanged:,} |"
        )
    print(f"machine: {machine_line(info)}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"products_import-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
