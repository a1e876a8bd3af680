"""Benchmark of the bulk card import against a bare PostgreSQL COPY of the same rows.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.cards_import --rows 1000000

Generates a CSV of ``--rows`` Luhn numbers for a new batch, runs the import service end to end
(``cards_import_bulk``: read, check every row, existing numbers through a temp table, COPY into
``loyalty_card``, commit), then COPYs the same rows, as CSV in the table's own columns, into a
scratch table built ``LIKE loyalty_card INCLUDING ALL`` (same indexes), and prints both times,
their ratio and the machine. The imported cards and the scratch table are removed at the end
unless ``--keep``. Needs a migrated PostgreSQL database.
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

SCRATCH = "bench_card_copy"
COPY_COLUMNS = (
    "number",
    "card_type",
    "status",
    "programme_id",
    "batch_id",
    "is_virtual",
    "block_reason",
    "created_at",
)


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a migrated PostgreSQL database.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def luhn_number(prefix: str, counter: int) -> str:
    from loyalty.validators import luhn_check_digit

    payload = f"{prefix}{counter:09d}"  # 3 + 9 + 1 = 13 digits
    return payload + luhn_check_digit(payload)


def generate(directory: Path, rows: int, prefix: str, batch) -> tuple[Path, Path]:
    """The import file (import columns) and the bare COPY file (table columns), same numbers."""
    import_path, copy_path = directory / "cards.csv", directory / "cards_table.csv"
    created = datetime.now(UTC).isoformat()
    with import_path.open("w", newline="") as a, copy_path.open("w", newline="") as b:
        to_import, to_copy = csv.writer(a), csv.writer(b)
        to_import.writerow(["number", "batch", "card_type", "status", "customer_phone"])
        for counter in range(1, rows + 1):
            number = luhn_number(prefix, counter)
            to_import.writerow([number, batch.code, "loyalty", "new", ""])
            to_copy.writerow(
                [number, "loyalty", "new", batch.programme_id, batch.pk, "f", "", created]
            )
    return import_path, copy_path


def checkpoint() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def run_import(path: Path, batch) -> float:
    from loyalty.services.card_import import cards_import_bulk

    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as stream:
        report = cards_import_bulk(stream, default_batch=batch)
    elapsed = time.perf_counter() - started
    if not report.ok:
        sys.exit(f"the import failed: {report.errors[:5]}")
    return elapsed


def run_bare_copy(path: Path) -> float:
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE TABLE {SCRATCH} (LIKE loyalty_card INCLUDING ALL)")
    checkpoint()
    columns = ", ".join(COPY_COLUMNS)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {SCRATCH} ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (block_reason))"
        ) as copy:
            with path.open("rb") as stream:
                while block := stream.read(1 << 20):
                    copy.write(block)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the cards and scratch table")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from loyalty.models import Card, CardBatch, Programme

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    programme, _created = Programme.objects.get_or_create(
        code="bench-import", defaults={"name": "Import benchmark"}
    )
    batch = CardBatch.objects.create(
        programme=programme,
        code=f"BENCH-IMPORT-{stamp}",
        name=f"Import benchmark {stamp}",
        source=CardBatch.Source.IMPORTED,
        number_length=13,
        check_digit=CardBatch.CheckDigit.LUHN,
    )
    # A prefix no other card uses, so the run never collides with an earlier one.
    prefix = "9" + f"{secrets.randbelow(100):02d}"
    while Card.objects.filter(number__startswith=prefix, number__regex=r"^[0-9]{13}$").exists():
        prefix = "9" + f"{secrets.randbelow(100):02d}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            import_path, copy_path = generate(Path(tmp), args.rows, prefix, batch)
            generated = time.perf_counter() - started
            size_mb = import_path.stat().st_size / 1e6
            checkpoint()
            import_s = run_import(import_path, batch)
            copy_s = run_bare_copy(copy_path)
        loaded = Card.objects.filter(batch=batch).count()
    finally:
        if not args.keep:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            Card.objects.filter(batch=batch).delete()
            batch.delete()
            with connection.cursor() as cursor:
                # The next run should find the table and its indexes as lean as this one did.
                cursor.execute("VACUUM loyalty_card")

    info = machine(pg_version)
    result = {
        "rows": args.rows,
        "loaded": loaded,
        "csv_mb": round(size_mb, 1),
        "generate_s": round(generated, 2),
        "import_s": round(import_s, 2),
        "bare_copy_s": round(copy_s, 2),
        "ratio": round(import_s / copy_s, 2),
        "import_rows_per_s": round(args.rows / import_s),
        "bare_copy_rows_per_s": round(args.rows / copy_s),
        "machine": info,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"card import benchmark: {args.rows:,} rows, CSV {size_mb:.1f} MB")
    print("| path | seconds | rows/s |")
    print("| --- | --: | --: |")
    print(
        f"| `cards_import` (read, check, COPY, commit) | {import_s:.1f} | {args.rows / import_s:,.0f} |"
    )
    print(f"| bare `COPY` of the same rows | {copy_s:.1f} | {args.rows / copy_s:,.0f} |")
    print(f"import / bare COPY = {import_s / copy_s:.2f}; loaded {loaded:,} cards")
    print(f"machine: {machine_line(info)}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"cards_import-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
