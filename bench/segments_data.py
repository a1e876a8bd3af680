"""The data of the segment benchmark, generated set-wise in PostgreSQL (``bench.segments``).

The small setup goes through the ORM (``bench.data.coalition``: programme, currency, tiers, 12
partners x 5 stores x 2 terminals, 20 categories, 40 brands, 2,000 products) plus three
questionnaire questions. The bulk is ``INSERT ... SELECT`` over ``generate_series``, so no row
travels through Python:

- customers: birth dates (15 % unknown) between 1950 and 2007, genders, registration over three
  years, one active loyalty card and one points account each;
- answers: a city (one of 8 options, 60 % answered), a number of children (30 %), a pet
  (yes / no, 40 %);
- receipts over the last 730 days in the order of their ids (as a live table fills: its
  ``recorded_at`` follows the rows' physical order) at weighted partners' terminals, of
  customers drawn with a
  skew (a few buy often, many rarely, some never); 1.5 % cancelled, 2 % partially refunded
  (their first line wholly), 1 % refunded in full, each with its refund and refund lines;
- 1 to 4 lines a receipt (2.5 on average), random products, the receipt's money split over
  its lines.

The bulk tables' secondary indexes and foreign keys are dropped first and re-created at the
end, all in one transaction (a failure leaves the database as it was), then ``VACUUM
ANALYZE``. Timestamps of generated rows (``recorded_at``, ``created_at``, ``updated_at``,
``answered_at``) are those of the sale or the registration, as if the rows had been written
then: an incremental refresh sees none of them as changed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

CITIES = ["msk", "spb", "nsk", "ekb", "kzn", "nnv", "chl", "oms"]
BULK_TABLES = [
    "crm_customer",
    "crm_profileanswer",
    "loyalty_card",
    "loyalty_account",
    "loyalty_receipt",
    "loyalty_receiptline",
    "loyalty_refund",
    "loyalty_refundline",
]
HISTORY_DAYS = 730


@dataclass(frozen=True)
class Made:
    customers: int
    receipts: int
    lines: int
    refunds: int
    answers: int
    seconds: float


def _coalition_setup(seed: int):
    """The ORM part: the coalition of ``bench.data`` and the questionnaire."""
    from bench.data import coalition
    from crm.models import ProfileQuestion, ProfileQuestionChoice

    co = coalition(random.Random(seed), timezone.now())
    city = ProfileQuestion.objects.create(
        code="bench_city", label="City", answer_type=ProfileQuestion.AnswerType.CHOICE
    )
    ProfileQuestionChoice.objects.bulk_create(
        ProfileQuestionChoice(question=city, value=value, label=value.upper(), position=i)
        for i, value in enumerate(CITIES)
    )
    kids = ProfileQuestion.objects.create(
        code="bench_kids", label="Children", answer_type=ProfileQuestion.AnswerType.NUMBER
    )
    pet = ProfileQuestion.objects.create(
        code="bench_pet", label="A pet", answer_type=ProfileQuestion.AnswerType.BOOLEAN
    )
    return co, {"city": city.pk, "kids": kids.pk, "pet": pet.pk}


def _strip(cursor) -> list[str]:
    """Drop the secondary indexes and foreign keys of the bulk tables; return what re-creates
    them (indexes first, then the foreign keys, which are validated then)."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute(
        "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype = 'f'",
        [BULK_TABLES],
    )
    foreign = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [BULK_TABLES],
    )
    indexes = cursor.fetchall()
    for name, table, _definition in foreign:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _sql in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for name, table, definition in foreign
    ]


def _array(values) -> str:
    return "ARRAY[" + ",".join(str(int(v)) for v in values) + "]::bigint[]"


def _max_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    return cursor.fetchone()[0]


def generate(
    *, customers: int, receipts: int, seed: int = 2026, log: Callable[[str], None] = print
) -> Made:
    """Fill the (migrated, empty) default database; see the module docstring."""
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        co, questions = _coalition_setup(seed)
        with connection.cursor() as cursor:
            restore = _strip(cursor)
            _bulk(cursor, co, questions, customers, receipts, log)
            mark = time.monotonic()
            for sql in restore:
                cursor.execute(sql)
            log(f"indexes and foreign keys re-created: {time.monotonic() - mark:.0f} s")
            for table in BULK_TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            counts = {}
            for table in BULK_TABLES:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
                counts[table] = cursor.fetchone()[0]
    mark = time.monotonic()
    with connection.cursor() as cursor:
        for table in BULK_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("ANALYZE")  # the small tables too (the products' categories...)
    log(f"vacuum analyze: {time.monotonic() - mark:.0f} s")
    return Made(
        customers=counts["crm_customer"],
        receipts=counts["loyalty_receipt"],
        lines=counts["loyalty_receiptline"],
        refunds=counts["loyalty_refund"],
        answers=counts["crm_profileanswer"],
        seconds=time.monotonic() - started,
    )


def _step(cursor, log, label: str, sql: str, params=()) -> None:
    mark = time.monotonic()
    cursor.execute(sql, params)
    log(f"{label}: {cursor.rowcount:,} rows, {time.monotonic() - mark:.0f} s")


def _bulk(cursor, co, questions: dict, customers: int, receipts: int, log) -> None:
    now = timezone.now()
    first = _max_id(cursor, "crm_customer") + 1
    last = first + customers - 1
    _step(
        cursor,
        log,
        "customers",
        f"""
        INSERT INTO crm_customer (id, public_id, first_name, middle_name, last_name, phone,
            email, birth_date, gender, registered_at, source, source_detail, referral_code,
            phone_verified, email_verified, is_anonymised, anonymised_at, comment, created_at,
            updated_at, referrer_id, merged_at, merged_into_id)
        SELECT i, 'c_sb' || lpad(i::text, 10, '0'), 'Name' || (i %% 97), '', 'Surname' || (i %% 89),
            '+7998' || lpad(i::text, 7, '0'), NULL,
            CASE WHEN random() < 0.85
                 THEN DATE '1950-01-01' + floor(random() * 20800)::int END,
            (ARRAY['female', 'female', 'male', 'male', 'unknown'])[1 + floor(random() * 5)::int],
            reg, (ARRAY['pos', 'pos', 'app', 'webshop'])[1 + floor(random() * 4)::int], 'bench',
            NULL, true, false, false, NULL, '', reg, reg, NULL, NULL, NULL
        FROM (SELECT i, %s::timestamptz - (random() * 1095) * interval '1 day' AS reg
              FROM generate_series({first}, {last}) i) c
        """,
        [now],
    )
    card_base = _max_id(cursor, "loyalty_card") - first + 1
    _step(
        cursor,
        log,
        "cards",
        f"""
        INSERT INTO loyalty_card (id, number, card_type, status, is_virtual, issued_at, activated_at,
            blocked_at, block_reason, created_at, customer_id, replaced_by_id, batch_id,
            programme_id)
        SELECT {card_base} + id, '2901' || lpad(id::text, 9, '0'), 'loyalty', 'active', false, registered_at,
            registered_at, NULL, '', registered_at, id, NULL, {co.batch.pk}, {co.programme.pk}
        FROM crm_customer WHERE id BETWEEN {first} AND {last}
        """,
    )
    _step(
        cursor,
        log,
        "accounts",
        f"""
        INSERT INTO loyalty_account (kind, purpose, balance, pending, held, debt_limit, version,
            created_at, updated_at, customer_id, currency_id, partner_id)
        SELECT 'customer', 'main', 0, 0, 0, 0, 0, registered_at, registered_at, id,
            {co.currency.pk}, NULL
        FROM crm_customer WHERE id BETWEEN {first} AND {last}
        """,
    )
    city, kids, pet = questions["city"], questions["kids"], questions["pet"]
    _step(
        cursor,
        log,
        "answers",
        f"""
        INSERT INTO crm_profileanswer (value_text, value_number, value_date, value_bool,
            value_choices, answered_at, customer_id, question_id)
        SELECT '', NULL::numeric, NULL::date, NULL::boolean,
            jsonb_build_array((%s::text[])[1 + floor(random() * {len(CITIES)})::int]),
            registered_at, id, {city}
        FROM crm_customer WHERE id BETWEEN {first} AND {last} AND random() < 0.6
        UNION ALL
        SELECT '', floor(random() * 4), NULL, NULL, '[]'::jsonb, registered_at, id, {kids}
        FROM crm_customer WHERE id BETWEEN {first} AND {last} AND random() < 0.3
        UNION ALL
        SELECT '', NULL, NULL, random() < 0.5, '[]'::jsonb, registered_at, id, {pet}
        FROM crm_customer WHERE id BETWEEN {first} AND {last} AND random() < 0.4
        """,
        [CITIES],
    )
    # Terminals repeated by popularity: a uniform pick in the array is a weighted pick.
    picks = [t for t, w in zip(co.terminals, co.terminal_weights, strict=True) for _ in range(w)]
    terminals = _array(t.pk for t in picks)
    stores = _array(t.store_id for t in picks)
    partners = _array(t.store.partner_id for t in picks)
    r_first = _max_id(cursor, "loyalty_receipt") + 1
    r_last = r_first + receipts - 1
    batch = 2_000_000
    for start in range(0, receipts, batch):
        lo, hi = r_first + start, r_first + min(start + batch, receipts) - 1
        _step(
            cursor,
            log,
            f"receipts {start + 1:,}-{hi - r_first + 1:,}",
            f"""
            INSERT INTO loyalty_receipt (id, receipt_id, status, sold_at, recorded_at,
                is_offline, total, discount, points_spent, to_pay, points_earned, fingerprint,
                result, card_id, currency_id, customer_id, partner_id, store_id, terminal_id,
                is_flagged, offline_shortfall, spent_points, tier_amount)
            SELECT i, 'S' || i, st, sold, sold, false, money, 0, 0, money, 0, '', '{{}}'::jsonb,
                {card_base} + cust, {co.currency.pk}, cust, ({partners})[t], ({stores})[t], ({terminals})[t],
                false, 0, 0, money
            FROM (
                SELECT i, 1 + floor(random() * {len(picks)})::int AS t,
                    {first} + floor({customers} * power(random(), 1.6))::bigint AS cust,
                    %s::timestamptz - ({HISTORY_DAYS} * ({r_last} - i)::float / {receipts}
                        + random() / 24) * interval '1 day' AS sold,
                    round((150 + random() * 4850)::numeric, 2) AS money,
                    CASE WHEN u < 0.015 THEN 'cancelled' WHEN u < 0.035 THEN 'partially_refunded'
                         WHEN u < 0.045 THEN 'refunded' ELSE 'confirmed' END AS st
                FROM (SELECT i, random() AS u FROM generate_series({lo}, {hi}) i) g
            ) r
            """,
            [now],
        )
    cursor.execute("SELECT MIN(id), MAX(id) FROM loyalty_product")
    p_first, p_last = cursor.fetchone()
    for start in range(0, receipts, batch):
        lo, hi = r_first + start, r_first + min(start + batch, receipts) - 1
        _step(
            cursor,
            log,
            f"lines of receipts {start + 1:,}-{hi - r_first + 1:,}",
            f"""
            INSERT INTO loyalty_receiptline (line_no, sku, quantity, price, amount, discount,
                points_spent, to_pay, points_earned, refunded_quantity, product_id, receipt_id,
                spent_points)
            SELECT k, p.sku, q, round(a / q, 2), a, 0, 0, a, 0,
                CASE WHEN r.status = 'refunded' OR (r.status = 'partially_refunded' AND k = 1)
                     THEN q ELSE 0 END,
                p.id, r.id, 0
            FROM (
                SELECT r.id, r.status, k, (1 + floor(random() * 3))::numeric AS q,
                    {p_first} + floor(random() * ({p_last} - {p_first} + 1))::bigint AS product,
                    CASE WHEN k < n THEN trunc(r.total / n, 2)
                         ELSE r.total - (n - 1) * trunc(r.total / n, 2) END AS a
                FROM (SELECT id, status, total, 1 + (id * 7919) %% 4 AS n FROM loyalty_receipt
                      WHERE id BETWEEN {lo} AND {hi}) r,
                     generate_series(1, r.n) k
            ) r JOIN loyalty_product p ON p.id = r.product
            """,
        )
    _step(
        cursor,
        log,
        "refunds",
        f"""
        INSERT INTO loyalty_refund (kind, refund_id, fingerprint, amount, to_pay,
            points_returned, points_reversed, shortfall, debt, result, created_at, receipt_id,
            terminal_id)
        SELECT CASE WHEN r.status = 'cancelled' THEN 'cancel' ELSE 'refund' END,
            CASE WHEN r.status = 'cancelled' THEN '' ELSE 'R' || r.id END, '',
            CASE WHEN r.status = 'partially_refunded' THEN l.to_pay ELSE r.total END,
            CASE WHEN r.status = 'partially_refunded' THEN l.to_pay ELSE r.to_pay END,
            0, 0, 0, 0, '{{}}'::jsonb,
            LEAST(r.sold_at + random() * interval '10 days', %s::timestamptz), r.id,
            r.terminal_id
        FROM loyalty_receipt r
        JOIN loyalty_receiptline l ON l.receipt_id = r.id AND l.line_no = 1
        WHERE r.status <> 'confirmed' AND r.id BETWEEN {r_first} AND {r_last}
        """,
        [now],
    )
    _step(
        cursor,
        log,
        "refund lines",
        f"""
        INSERT INTO loyalty_refundline (quantity, amount, discount, points_spent, to_pay,
            points_earned, spent_points, line_id, refund_id)
        SELECT l.quantity, l.amount, 0, 0, l.to_pay, 0, 0, l.id, f.id
        FROM loyalty_refund f
        JOIN loyalty_receipt r ON r.id = f.receipt_id
        JOIN loyalty_receiptline l ON l.receipt_id = r.id
        WHERE f.kind = 'refund' AND (r.status = 'refunded' OR l.line_no = 1)
          AND r.id BETWEEN {r_first} AND {r_last}
        """,
    )
