"""The SQL of the purchase hot path on PostgreSQL: each phase of a sale in one round trip.

``processing`` decides what a sale does; on PostgreSQL it reads and writes through here
instead of the ORM, because on a 15-line receipt the ORM's Python (compiling each query,
building model instances) costs several times what the database does. Each phase's
statements go to the server in one ``execute()``: psycopg's client-side binding, which Django
uses, sends them as one simple query and hands back one result set per statement
(``nextset()``). A confirm is then six round trips (and one more in the rare sale that moves
the customer to another tier, to record the move):

1. before any lock: the replay check, the card and its holder, the holder's accounts and tier
   memberships, the receipt's products;
2. ``BEGIN`` (psycopg's own);
3. the transaction's timeouts, the accounts locked in pk order (``FOR NO KEY UPDATE``), the
   replay check again, the open lots of the locked accounts, the tier membership locked;
4. the ids of the new rows, from the tables' sequences;
5. every write: receipt, lines, postings, entries, lots opened and moved, account caches, line
   rewards, tier progress, card activation;
6. ``COMMIT``.

The statements here are the plain equivalents of the ORM calls in ``processing`` and
``ledger`` (the same rows, the same locks in the same order); tests compare the two paths row
for row (tests/loyalty/test_fastpath.py). Elsewhere (SQLite) and for the rare turns of a
sale (lots due for activation, holds, debts, counters, offline shortfalls, the record of a
move to another tier, customer facts that only an earlier version of a promotion reads) the
ORM runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from audit import trail as audit
from audit.models import AuditEvent
from loyalty.models import Account, Card, Lot, TierMembership
from loyalty.sql import ACCOUNT_FIELDS, LOT_FIELDS, Statement, from_db, insert, marks, run

if TYPE_CHECKING:
    from crm.models import Customer
    from promotions.engine import RulesSnapshot

CARD_FIELDS = ["id", "number", "card_type", "status", "programme_id", "customer_id", "batch_id"]
CUSTOMER_FIELDS = ["id", "public_id", "registered_at", "birth_date", "referrer_id"]
TIER_FIELDS = [
    "id",
    "customer_id",
    "programme_id",
    "tier_id",
    "qualifying_amount",
    "since",
    "is_manual",
]
RECEIPT_COLUMNS = [
    "id",
    "terminal_id",
    "store_id",
    "partner_id",
    "receipt_id",
    "status",
    "customer_id",
    "card_id",
    "currency_id",
    "sold_at",
    "recorded_at",
    "is_offline",
    "total",
    "discount",
    "points_spent",
    "to_pay",
    "points_earned",
    "spent_points",
    "tier_amount",
    "is_flagged",
    "offline_shortfall",
    "fingerprint",
    "result",
]
LINE_COLUMNS = [
    "id",
    "receipt_id",
    "line_no",
    "sku",
    "product_id",
    "quantity",
    "price",
    "amount",
    "discount",
    "points_spent",
    "to_pay",
    "points_earned",
    "spent_points",
    "refunded_quantity",
]
REWARD_COLUMNS = [
    "line_id",
    "refund_id",
    "promotion_id",
    "effect",
    "currency_id",
    "amount",
    "lot_id",
]


def enabled() -> bool:
    """Whether the purchase services take this path (PostgreSQL, unless switched off)."""
    return connection.vendor == "postgresql" and getattr(settings, "POS_SQL_PATH", True)


# --- Phase 1: what the sale is about, before any lock -----------------------------------------


@dataclass
class Holder:
    """What the first round trip read about a sale."""

    replay: tuple[str, dict] | None = None
    card: Card | None = None
    customer: Customer | None = None  # with id, public_id, registered_at loaded
    accounts: list[Account] = field(default_factory=list)
    tiers: dict[int, int] = field(default_factory=dict)  # programme id -> tier id
    products: list[tuple] = field(default_factory=list)  # (sku, id, partner, category, brand, gift)
    lots: list[Lot] | None = None
    # Read only when a promotion needs them (RulesSnapshot.needs):
    segments: list[int] = field(default_factory=list)  # segment ids
    dates: list[tuple[str, date]] = field(default_factory=list)  # (kind, date) yearly
    counters: list[tuple] = field(default_factory=list)  # (counter id, period start, value)
    favourites: list[tuple[int, int]] = field(default_factory=list)  # (programme id, product id)
    needs: frozenset[str] = frozenset()  # which of these were read
    snapshot: RulesSnapshot | None = None  # the rules snapshot the load was made for


def _decode(result) -> dict:
    return json.loads(result) if isinstance(result, str | bytes) else result


def holder_load(
    *,
    card: str | None,
    phone: str | None,
    skus: Iterable[str],
    partner_id: int,
    replay: tuple[int, str] | None = None,
    lots: bool = False,
    needs: frozenset[str] = frozenset(),
    counters_since=None,
) -> Holder:
    """Read the card, its holder, their accounts and tiers, the products (and, for a
    calculate, the open lots; for a confirm, the receipt already stored under its id)."""
    from crm.models import Customer

    statements: list[Statement] = []
    if replay is not None:
        statements.append(
            (
                "SELECT fingerprint, result FROM loyalty_receipt"
                " WHERE terminal_id = %s AND receipt_id = %s",
                list(replay),
            )
        )
    if card:
        who, key = "(SELECT customer_id FROM loyalty_card WHERE number = %s)", card
        statements.append(
            (
                "SELECT c.id, c.number, c.card_type, c.status, c.programme_id, c.customer_id,"
                " c.batch_id, cu.id, cu.public_id, cu.registered_at, cu.birth_date,"
                " cu.referrer_id FROM loyalty_card c"
                " LEFT JOIN crm_customer cu ON cu.id = c.customer_id WHERE c.number = %s",
                [card],
            )
        )
    elif phone:
        who, key = "(SELECT id FROM crm_customer WHERE phone = %s)", phone
        statements.append(
            (
                "SELECT cu.id, cu.public_id, cu.registered_at, cu.birth_date, cu.referrer_id"
                " FROM crm_customer cu"
                " WHERE cu.phone = %s",
                [phone],
            )
        )
    else:
        who, key = None, None
    if who is not None:
        statements.append(
            (
                f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM loyalty_account"
                f" WHERE kind = 'customer' AND customer_id = {who} ORDER BY id",
                [key],
            )
        )
        statements.append(
            (
                "SELECT programme_id, tier_id FROM loyalty_tiermembership"
                f" WHERE customer_id = {who}",
                [key],
            )
        )
        if lots:
            statements.append(
                (
                    f"SELECT {', '.join('l.' + name for name in LOT_FIELDS)} FROM loyalty_lot l"
                    " JOIN loyalty_account a ON a.id = l.account_id"
                    f" WHERE a.kind = 'customer' AND a.customer_id = {who} AND l.remaining <> 0",
                    [key],
                )
            )
        statements += _facts_statements(who, key, needs, counters_since)
    skus = sorted(set(skus))
    statements.append(
        (
            "SELECT sku, id, partner_id, category_id, brand_id, is_gift_card FROM loyalty_product"
            f" WHERE sku IN ({marks(len(skus))}) AND (partner_id IS NULL OR partner_id = %s)",
            [*skus, partner_id],
        )
    )
    results = iter(run(statements))
    holder = Holder()
    if replay is not None:
        rows = next(results)
        if rows:
            holder.replay = (rows[0][0], _decode(rows[0][1]))
    if card:
        rows = next(results)
        if rows:
            row = rows[0]
            holder.card = from_db(Card, CARD_FIELDS, row[:7])
            if row[7] is not None:
                holder.customer = from_db(Customer, CUSTOMER_FIELDS, row[7:12])
                holder.card._state.fields_cache["customer"] = holder.customer
            else:
                holder.card._state.fields_cache["customer"] = None
    elif phone:
        rows = next(results)
        if rows:
            holder.customer = from_db(Customer, CUSTOMER_FIELDS, rows[0])
    if who is not None:
        holder.accounts = [from_db(Account, ACCOUNT_FIELDS, row) for row in next(results)]
        holder.tiers = dict(next(results))
        if lots:
            holder.lots = [from_db(Lot, LOT_FIELDS, row) for row in next(results)]
        if "segments" in needs:
            holder.segments = [row[0] for row in next(results)]
        if "dates" in needs:
            holder.dates = [tuple(row) for row in next(results)]
        if "counters" in needs:
            holder.counters = [tuple(row) for row in next(results)]
        if "favourites" in needs:
            holder.favourites = [tuple(row) for row in next(results)]
    holder.products = next(results)
    holder.needs = needs if who is not None else frozenset()
    if holder.customer is None:
        holder.accounts, holder.tiers = [], {}
        holder.lots = [] if lots else None
    return holder


def _facts_statements(who: str, key, needs, counters_since) -> list[Statement]:
    """What promotions read about the customer beyond the tier, when some promotion does."""
    statements: list[Statement] = []
    if "segments" in needs:
        statements.append(
            (f"SELECT segment_id FROM crm_segmentmember WHERE customer_id = {who}", [key])
        )
    if "dates" in needs:
        statements.append(
            (
                f"SELECT kind, date FROM crm_memorabledate WHERE customer_id = {who} AND is_yearly",
                [key],
            )
        )
    if "counters" in needs:
        statements.append(
            (
                "SELECT counter_id, period_start, value FROM loyalty_countervalue"
                f" WHERE customer_id = {who} AND (period_start >= %s OR period_start = %s)",
                [key, counters_since, "1970-01-01"],
            )
        )
    if "favourites" in needs:
        statements.append(
            (
                "SELECT programme_id, product_id FROM loyalty_favouriteproduct"
                f" WHERE customer_id = {who}",
                [key],
            )
        )
    return statements


# --- Phase 3: under the locks -------------------------------------------------------------------


@dataclass
class Locked:
    accounts: dict[int, Account]  # by pk, locked
    replay: tuple[str, dict] | None
    lots: list[Lot]  # the open lots of the locked accounts
    membership: TierMembership | None  # when asked for: None if the customer has none


def lock(
    *,
    account_ids: Iterable[int],
    terminal_id: int,
    receipt_id: str,
    lock_timeout_ms: int,
    statement_timeout_ms: int,
    membership: tuple[int, int] | None,
) -> Locked:
    """Set the transaction's timeouts, lock the accounts in pk order, look the receipt up
    again, read the accounts' open lots and lock the tier membership (customer, programme)."""
    ids = sorted(set(account_ids))
    statements: list[Statement] = [
        (
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            [str(lock_timeout_ms), str(statement_timeout_ms)],
        ),
    ]
    if ids:
        statements.append(
            (
                f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM loyalty_account"
                f" WHERE id IN ({marks(len(ids))}) ORDER BY id FOR NO KEY UPDATE",
                ids,
            )
        )
    statements.append(
        (
            "SELECT fingerprint, result FROM loyalty_receipt"
            " WHERE terminal_id = %s AND receipt_id = %s",
            [terminal_id, receipt_id],
        )
    )
    if ids:
        statements.append(
            (
                f"SELECT {', '.join(LOT_FIELDS)} FROM loyalty_lot"
                f" WHERE account_id IN ({marks(len(ids))}) AND remaining <> 0",
                ids,
            )
        )
    if membership is not None:
        statements.append(
            (
                f"SELECT {', '.join(TIER_FIELDS)} FROM loyalty_tiermembership"
                " WHERE customer_id = %s AND programme_id = %s FOR UPDATE",
                list(membership),
            )
        )
    results = iter(run(statements))
    next(results)
    accounts = (
        {row[0]: from_db(Account, ACCOUNT_FIELDS, row) for row in next(results)} if ids else {}
    )
    rows = next(results)
    replay = (rows[0][0], _decode(rows[0][1])) if rows else None
    lots = [from_db(Lot, LOT_FIELDS, row) for row in next(results)] if ids else []
    found = None
    if membership is not None:
        rows = next(results)
        found = from_db(TierMembership, TIER_FIELDS, rows[0]) if rows else None
    return Locked(accounts, replay, lots, found)


# --- Phase 4: ids -------------------------------------------------------------------------------

_sequences: dict[str, str] = {}
SEQUENCE_TABLES = (
    "loyalty_receipt",
    "loyalty_receiptline",
    "loyalty_posting",
    "loyalty_ledgerentry",
)


def _sequence_names() -> dict[str, str]:
    if not _sequences:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("pg_get_serial_sequence(%s, 'id')" for _ in SEQUENCE_TABLES),
                list(SEQUENCE_TABLES),
            )
            _sequences.update(zip(SEQUENCE_TABLES, cursor.fetchone(), strict=True))
    return _sequences


@dataclass
class Ids:
    receipt: int
    lines: list[int]
    postings: list[int]
    entries: list[int]


def ids_take(*, lines: int, postings: int, entries: int) -> Ids:
    """New primary keys for a receipt, its lines, postings and entries (one round trip)."""
    names = _sequence_names()
    many = "ARRAY(SELECT nextval(%s) FROM generate_series(1, %s))"
    sql = f"SELECT nextval(%s), {many}, {many}, {many}"
    params: list[str | int] = [
        names["loyalty_receipt"],
        names["loyalty_receiptline"],
        lines,
        names["loyalty_posting"],
        postings,
        names["loyalty_ledgerentry"],
        entries,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        receipt, line_ids, posting_ids, entry_ids = cursor.fetchone()
    return Ids(receipt, list(line_ids), list(posting_ids), list(entry_ids))


# --- Phase 5: the writes ------------------------------------------------------------------------


def receipt_statements(receipt: dict, lines: Sequence[dict]) -> list[Statement]:
    """The receipt row (``result`` as jsonb) and its lines."""
    row = [receipt[name] for name in RECEIPT_COLUMNS]
    row[-1] = json.dumps(receipt["result"])
    casts = [""] * (len(RECEIPT_COLUMNS) - 1) + ["jsonb"]
    statements = [insert("loyalty_receipt", RECEIPT_COLUMNS, [row], casts)]
    if lines:
        statements.append(
            insert(
                "loyalty_receiptline",
                LINE_COLUMNS,
                [[line[name] for name in LINE_COLUMNS] for line in lines],
            )
        )
    return statements


def rewards_statement(rows: Sequence[Sequence]) -> list[Statement]:
    """Line rewards: (line id, refund id, promotion id, effect, currency id, amount, lot id)."""
    return [insert("loyalty_receiptlinereward", REWARD_COLUMNS, rows)] if rows else []


def membership_statement(membership: TierMembership) -> Statement:
    return (
        "UPDATE loyalty_tiermembership SET qualifying_amount = %s, tier_id = %s, since = %s"
        " WHERE id = %s",
        [membership.qualifying_amount, membership.tier_id, membership.since, membership.pk],
    )


def card_activation_statement(card_id: int, now: datetime) -> Statement:
    """Activate an issued card at its first purchase and, in the same statement, write its
    audit event, as the ORM path's audited update does (only when the update matched)."""
    columns, values = audit.event_columns(Card, AuditEvent.Action.UPDATE)
    placeholders = ", ".join(["%s"] * len(values))
    before = {"activated_at": None, "status": Card.Status.ISSUED.value}
    after = {
        "activated_at": audit.stored(Card, "activated_at", now),
        "status": Card.Status.ACTIVE.value,
    }
    return (
        "WITH activated AS (UPDATE loyalty_card SET status = 'active', activated_at = %s"
        " WHERE id = %s AND status = 'issued' RETURNING id, number)"
        f" INSERT INTO loyalty_auditevent ({columns}, object_id, object_repr, before, after, note)"
        f" SELECT {placeholders}, id::text, number, %s::jsonb, %s::jsonb, '' FROM activated",
        [now, card_id, *values, json.dumps(before), json.dumps(after)],
    )
