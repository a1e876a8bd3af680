"""The segment benchmark: rule segments over 1,000,000 customers and 10,000,000 receipts.

    .venv/bin/python -m bench.segments                 # new database, generate, run
    .venv/bin/python -m bench.segments --reuse         # keep the generated data, run again
    .venv/bin/python -m bench.segments --reuse --url /admin/crm/segment/   # time admin pages

Works in its own PostgreSQL database (``--database``, default ``loyalty_bench_segments`` on
127.0.0.1, user postgres): without ``--reuse`` it is dropped, created, migrated and filled by
``bench.segments_data`` (about 20 minutes on the 2-core machine, 12 GB); with ``--reuse`` the
data stays and only the migrations are applied.

Then, for each representative rule, two segments with that rule: each gets a first refresh
(everyone enters), then a small change is made in SQL, as the application would have written
it (receipts recorded now, some sold long ago as offline uploads; refunds and cancellations;
genders changed; answers given and removed; customers registered), and one segment is
refreshed in full and its twin as the refresh chooses (incrementally when the rule is
time-stable). The two must end with the same members (checked). Every statement has a
``--statement-timeout`` (default 60 s; a rule whose first refresh exceeds it is reported so
and left out of the rest), so a run is bounded: 10 to 15 minutes.

``--url PATH`` (repeatable) instead times back-office pages on this database through Django's
whole stack, signed in as a superuser (``bench.admin_pages.measure``): the fastest and the
median of ``--rounds`` requests after a warm-up, and their queries. From Python:
``time_admin_urls(["/admin/reports/rfm/"])`` once Django is set up on the bench database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import time
from dataclasses import asdict, dataclass

DEFAULT_DB = "loyalty_bench_segments"
SERVER = "postgres://postgres@127.0.0.1:5432"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def database_prepare(name: str, *, reuse: bool) -> bool:
    """Create (or, without ``reuse``, re-create) the database; whether it must be filled."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            return True
    return False


def setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


# --- the rules --------------------------------------------------------------------------------


def rules() -> dict[str, dict]:
    """The representative rules, on the generated coalition's rows."""
    from django.utils import timezone

    from crm.models import ProfileQuestion
    from loyalty.models import Category, Partner

    partner = Partner.objects.filter(code__startswith="bench-").order_by("code").first()
    category = Category.objects.filter(code__startswith="bench-c").order_by("code").first()
    city = ProfileQuestion.objects.get(code="bench_city")
    assert partner is not None
    assert category is not None
    today = timezone.localdate()
    # the last whole half-year
    if today.month > 6:
        half = (dt.date(today.year, 1, 1), dt.date(today.year, 6, 30))
    else:
        half = (dt.date(today.year - 1, 7, 1), dt.date(today.year - 1, 12, 31))
    half_window = {"from": half[0].isoformat(), "to": half[1].isoformat()}
    year_window = {"from": f"{today.year - 1}-01-01", "to": f"{today.year - 1}-12-31"}
    lapsed = {
        "op": "and",
        "items": [
            {"kind": "purchases", "measure": "count", "min": 1,
             "window": {"last_days": 90}, "partners": [partner.pk]},
            {"kind": "purchases", "measure": "count", "min": 1, "not": True,
             "window": {"last_days": 30}, "partners": [partner.pk]},
        ],
    }  # fmt: skip
    return {
        "partner 90 d, not 30 d": lapsed,
        "category sum, half-year (lines)": {
            "op": "and",
            "items": [{"kind": "purchases", "measure": "sum", "min": "1000",
                       "window": half_window, "categories": [category.pk]}],
        },
        "average receipt >= 3000": {
            "op": "and",
            "items": [{"kind": "purchases", "measure": "average", "min": "3000"}],
        },
        "recency 30-60 days": {
            "op": "and",
            "items": [{"kind": "purchases", "measure": "recency", "min": 30, "max": 60}],
        },
        "age + gender + answer": {
            "op": "and",
            "items": [
                {"kind": "age", "min": 25, "max": 40},
                {"kind": "gender", "genders": ["female"]},
                {"kind": "answer", "question": city.pk, "match": "choice_any",
                 "values": ["msk"]},
            ],
        },
        "sum last year + answer + gender": {
            "op": "and",
            "items": [
                {"kind": "purchases", "measure": "sum", "min": "20000", "window": year_window},
                {"kind": "answer", "question": city.pk, "match": "choice_any",
                 "values": ["msk", "spb"]},
                {"kind": "gender", "genders": ["unknown"], "not": True},
            ],
        },
        "partner, a half-year (stable)": {
            "op": "and",
            "items": [{"kind": "purchases", "measure": "count", "min": 2,
                       "window": half_window, "partners": [partner.pk]}],
        },
        "gender + answer (stable)": {
            "op": "and",
            "items": [
                {"kind": "gender", "genders": ["male"]},
                {"kind": "answer", "question": city.pk, "match": "choice_any",
                 "values": ["msk", "nsk"]},
            ],
        },
        "nested OR with a segment": {
            "op": "or",
            "items": [
                {"kind": "segment", "segment": "@partner 90 d, not 30 d"},
                {"op": "and", "items": [
                    {"kind": "purchases", "measure": "count", "min": 20},
                    {"kind": "gender", "genders": ["male"]},
                ]},
            ],
        },
    }  # fmt: skip


# --- the small change -------------------------------------------------------------------------

CHANGE_SQL = [
    # 2,000 receipts recorded now: 1,500 sold today, 500 uploaded offline, sold 100-300 days ago
    """
    INSERT INTO loyalty_receipt (receipt_id, status, sold_at, recorded_at, is_offline, total,
        discount, points_spent, to_pay, points_earned, fingerprint, result, card_id,
        currency_id, customer_id, partner_id, store_id, terminal_id, is_flagged,
        offline_shortfall, spent_points, tier_amount)
    SELECT 'N' || %(run)s || '-' || g, 'confirmed',
        CASE WHEN g <= 1500 THEN now() - random() * interval '12 hours'
             ELSE now() - (100 + random() * 200) * interval '1 day' END,
        now(), g > 1500, m, 0, 0, m, 0, '', '{}'::jsonb, NULL, NULL, c, t.partner_id,
        t.store_id, t.id, false, 0, 0, m
    FROM (SELECT g, round((150 + random() * 4850)::numeric, 2) AS m,
                 (SELECT MIN(id) FROM crm_customer)
                   + floor(random() * (SELECT COUNT(*) FROM crm_customer))::bigint AS c,
                 1 + floor(random() * 100)::int AS k
          FROM generate_series(1, 2000) g) r
    JOIN LATERAL (SELECT s.id AS store_id, s.partner_id, tm.id FROM loyalty_terminal tm
                  JOIN loyalty_store s ON s.id = tm.store_id
                  ORDER BY tm.id OFFSET (r.k %% 100) LIMIT 1) t ON true
    """,
    """
    INSERT INTO loyalty_receiptline (line_no, sku, quantity, price, amount, discount,
        points_spent, to_pay, points_earned, refunded_quantity, product_id, receipt_id,
        spent_points)
    SELECT 1, p.sku, 1, r.to_pay, r.to_pay, 0, 0, r.to_pay, 0, 0, p.id, r.id, 0
    FROM loyalty_receipt r
    JOIN loyalty_product p ON p.id = (SELECT MIN(id) FROM loyalty_product) + r.id %% 2000
    WHERE r.receipt_id LIKE 'N' || %(run)s || '-%%'
    """,
    # 300 refunds in full of receipts of the last year, recorded now
    """
    WITH picked AS (
        SELECT id, terminal_id, to_pay, total FROM loyalty_receipt
        WHERE status = 'confirmed' AND sold_at > now() - interval '365 days'
          AND id %% 9973 = %(run)s %% 9973 LIMIT 300
    ), refunds AS (
        INSERT INTO loyalty_refund (kind, refund_id, fingerprint, amount, to_pay,
            points_returned, points_reversed, shortfall, debt, result, created_at, receipt_id,
            terminal_id)
        SELECT 'refund', 'B' || %(run)s || '-' || id, '', total, to_pay, 0, 0, 0, 0,
            '{}'::jsonb, now(), id, terminal_id FROM picked
        RETURNING id, receipt_id
    ), lines AS (
        INSERT INTO loyalty_refundline (quantity, amount, discount, points_spent, to_pay,
            points_earned, spent_points, line_id, refund_id)
        SELECT l.quantity, l.amount, 0, 0, l.to_pay, 0, 0, l.id, f.id
        FROM refunds f JOIN loyalty_receiptline l ON l.receipt_id = f.receipt_id
        RETURNING line_id
    ), marked AS (
        UPDATE loyalty_receiptline SET refunded_quantity = quantity
        WHERE id IN (SELECT line_id FROM lines) RETURNING id
    )
    UPDATE loyalty_receipt SET status = 'refunded' WHERE id IN (SELECT id FROM picked)
    """,
    # 1,000 customers change their gender (a save: updated_at)
    """
    UPDATE crm_customer SET updated_at = now(),
        gender = CASE gender WHEN 'female' THEN 'male' ELSE 'female' END
    WHERE id IN (SELECT (SELECT MIN(id) FROM crm_customer)
                        + floor(random() * (SELECT COUNT(*) FROM crm_customer))::bigint
                 FROM generate_series(1, 1000))
    """,
    # 1,000 answers of the city changed (answered_at), 300 removed (the customer touched)
    """
    UPDATE crm_profileanswer SET answered_at = now(), value_choices = '["msk"]'::jsonb
    WHERE id IN (SELECT a.id FROM crm_profileanswer a JOIN crm_profilequestion q
                 ON q.id = a.question_id AND q.code = 'bench_city'
                 WHERE a.customer_id %% 997 = %(run)s %% 997 LIMIT 1000)
    """,
    """
    WITH gone AS (
        DELETE FROM crm_profileanswer WHERE id IN (
            SELECT a.id FROM crm_profileanswer a JOIN crm_profilequestion q
            ON q.id = a.question_id AND q.code = 'bench_city'
            WHERE a.customer_id %% 991 = (%(run)s + 1) %% 991 LIMIT 300)
        RETURNING customer_id
    )
    UPDATE crm_customer SET updated_at = now() WHERE id IN (SELECT customer_id FROM gone)
    """,
]


def small_change(run: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for sql in CHANGE_SQL:
            cursor.execute(sql, {"run": run})
        cursor.execute("ANALYZE loyalty_receipt")


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Row:
    rule: str
    time_stable: bool
    size: int = 0
    first_s: float = 0.0
    full_s: float = 0.0
    full_entered: int = 0
    full_left: int = 0
    auto_mode: str = ""
    auto_s: float = 0.0
    auto_evaluated: int | None = None
    same_members: bool = False
    timed_out: bool = False


def refresh_seconds(segment_id: int, mode: str, now: dt.datetime):
    from crm.segments.refresh import segment_refresh

    started = time.monotonic()
    done = segment_refresh(segment_id, mode=mode, now=now)
    return done, time.monotonic() - started


def run(statement_timeout: int, only: str = "") -> list[Row]:
    from django.db import OperationalError, connection
    from django.utils import timezone

    from crm.models import Segment, SegmentMember
    from crm.segments.incremental import rule_time_stable
    from crm.segments.rules import rule_clean
    from loyalty.models import Programme

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE crm_segmentmembershipchange, crm_segmentmember, crm_segmentrefresh,"
            " crm_segment CASCADE"
        )
        cursor.execute(f"SET statement_timeout = '{statement_timeout}s'")
    programme = Programme.objects.get(code="bench")
    made: dict[str, tuple[Segment, Segment]] = {}
    rows: list[Row] = []
    chosen = {label: rule for label, rule in rules().items() if only in label}
    for n, (label, rule) in enumerate(chosen.items()):
        for item in rule["items"]:
            if isinstance(item.get("segment"), str):
                item["segment"] = made[item["segment"][1:]][0].pk
        twins = []
        for twin in ("full", "auto"):
            clean = rule_clean(rule, programme_id=programme.pk)
            twins.append(
                Segment.objects.create(
                    programme=programme, code=f"bench_{n}_{twin}", name=f"{label} ({twin})",
                    kind=Segment.Kind.RULES, rule=clean,
                )
            )  # fmt: skip
        made[label] = (twins[0], twins[1])
        row = Row(rule=label, time_stable=rule_time_stable(twins[0].rule))
        rows.append(row)
        try:
            now = timezone.now()  # the twins evaluated as of the same moment
            first, row.first_s = refresh_seconds(twins[0].pk, "full", now)
            refresh_seconds(twins[1].pk, "full", now)
        except OperationalError:  # the statement timeout: the rule is left out of the rest
            row.timed_out = True
            log(f"{label}: first refresh over the {statement_timeout} s statement timeout")
            continue
        row.size = first.size or 0
        log(f"{label}: first refresh {row.first_s:.2f} s, {row.size:,} entered")
    log("the small change (2,000 receipts, 300 refunds, 1,000 genders, 1,300 answers)")
    small_change(int(time.time()) % 100000)
    for row, (full, auto) in zip(rows, made.values(), strict=True):
        if row.timed_out:
            continue
        now = timezone.now()
        done, row.full_s = refresh_seconds(full.pk, "full", now)
        row.full_entered, row.full_left = done.entered, done.left
        done, row.auto_s = refresh_seconds(auto.pk, "auto", now)
        row.auto_mode, row.auto_evaluated = done.mode, done.evaluated
        a = set(SegmentMember.objects.filter(segment=auto).values_list("customer_id", flat=True))
        f = set(SegmentMember.objects.filter(segment=full).values_list("customer_id", flat=True))
        row.same_members = a == f
        log(
            f"{row.rule}: full {row.full_s:.2f} s (+{row.full_entered} -{row.full_left}), "
            f"{row.auto_mode} {row.auto_s:.2f} s, same members: {row.same_members}"
        )
    return rows


def sizes() -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in ("crm_customer", "loyalty_receipt", "loyalty_receiptline", "loyalty_refund"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            out[table] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        out["database"] = cursor.fetchone()[0]
    return out


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'rule':<34} {'stable':>6} {'size':>9} {'1st s':>7} {'full s':>7} {'+/-':>12}"
        f" {'auto':>12} {'auto s':>7} {'evaluated':>9} {'same':>5}"
    )
    print(head)
    for r in rows:
        if r.timed_out:
            print(
                f"{r.rule:<34} {('yes' if r.time_stable else 'no'):>6}  over the statement timeout"
            )
            continue
        moved = f"+{r.full_entered}/-{r.full_left}"
        evaluated = "" if r.auto_evaluated is None else f"{r.auto_evaluated:,}"
        print(
            f"{r.rule:<34} {('yes' if r.time_stable else 'no'):>6} {r.size:>9,} "
            f"{r.first_s:>7.2f} {r.full_s:>7.2f} {moved:>12} {r.auto_mode:>12} {r.auto_s:>7.2f}"
            f" {evaluated:>9} {('yes' if r.same_members else 'NO'):>5}"
        )


def time_admin_urls(urls: list[str], rounds: int = 3) -> list:
    """Time back-office pages on the current (bench) database, signed in as a superuser;
    returns ``bench.admin_pages.Page`` rows (fastest and median ms, queries, status)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.admin_pages import measure

    settings.ALLOWED_HOSTS = ["*"]
    User = get_user_model()
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@bench.example", secrets.token_urlsafe(16)
    )
    client = Client()
    client.force_login(user)
    return measure(client, [(url, url) for url in urls], rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="keep the generated data")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--receipts", type=int, default=10_000_000)
    parser.add_argument("--statement-timeout", type=int, default=60, help="seconds")
    parser.add_argument("--url", action="append", default=[], help="time this admin page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="only the rules whose name contains this")
    args = parser.parse_args()

    started = time.monotonic()
    fill = database_prepare(args.database, reuse=args.reuse)
    setup_django(args.database)
    from django.core.management import call_command
    from django.db import connection

    from bench.common import machine, machine_line
    from loyalty.models import Programme

    log("migrate")
    call_command("migrate", verbosity=0)
    if fill or not Programme.objects.filter(code="bench").exists():
        from bench.segments_data import generate

        log(f"generating {args.customers:,} customers and {args.receipts:,} receipts")
        made = generate(customers=args.customers, receipts=args.receipts, log=log)
        log(f"generated in {made.seconds / 60:.1f} min: {made}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    if args.url:
        for page in time_admin_urls(args.url, args.rounds):
            print(
                f"{page.url}: status {page.status}, fastest {page.fastest_ms:.0f} ms,"
                f" median {page.median_ms:.0f} ms, {page.queries} queries"
            )
        print(machine_line(machine(pg_version)))
        return 0
    data = sizes()
    log(f"data: {data}")
    rows = run(args.statement_timeout, args.only)
    print()
    print_table(rows)
    print(f"\n{machine_line(machine(pg_version))}")
    print(f"data: {json.dumps(data)}; the whole run took {time.monotonic() - started:.0f} s")
    from bench.common import RESULTS_DIR

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"segments-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"machine": machine(pg_version), "data": data, "rows": [asdict(r) for r in rows]},
            indent=1,
        )  # fmt: skip
    )
    return 0 if all(r.same_members for r in rows if not r.timed_out) else 1


if __name__ == "__main__":
    sys.exit(main())
