"""Generate the benchmark database: a coalition, N customers and M ledger entries.

``manage.py bench_data`` calls :func:`generate`. The small setup (programme, currency, tiers,
base promotion, partners, stores, terminals and their API keys, catalogue) goes through the
ORM and the services; the bulk (customers, cards, accounts, tier memberships, receipt headers,
postings, ledger entries, lots) is computed in Python and streamed with PostgreSQL ``COPY``.

What the bulk looks like, per customer: a few purchases over the last 330 days at random
terminals; each earns the base 2 % of what was paid in money (an earn posting: customer leg
that opens a lot, partner leg), and some spend points first (a spend posting: one leg per lot
consumed, first-expiring first, and the partner's leg). The account's ``balance``/``version``,
every entry's ``balance_after``/``account_version`` and every lot's ``remaining`` are the ones
the ledger service would have written. Points live 365 days, so nothing is due to expire or
activate during a benchmark. Receipt headers are written (the hot path's unique keys and
indexes then have realistic sizes) but not their lines.

On PostgreSQL everything runs in one transaction: the secondary indexes and the foreign-key
and unique constraints of the bulk tables are dropped first and re-created (and so validated)
at the end, which is several times faster than maintaining them row by row; a failure rolls
everything back, schema included. The ledger's statement-level trigger (migration 0002) stays
on: it checks, after every ``COPY`` into ``loyalty_ledgerentry``, that each posting in it sums to
zero, so every ``COPY`` batch holds whole postings.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from bench.common import KEYS_FILE, card_number
from crm.models import Customer
from loyalty.models import (
    Account,
    Brand,
    Card,
    CardBatch,
    Category,
    Currency,
    LedgerEntry,
    Lot,
    Partner,
    Posting,
    Product,
    Programme,
    Receipt,
    Store,
    Terminal,
    Tier,
    TierMembership,
)
from loyalty.services.ledger import partner_account
from loyalty.services.terminals import terminal_key_issue
from loyalty.validators import ean13_check_digit, tax_id_check_digits
from promotions.models import Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate

PROGRAMME_CODE = "bench"
CURRENCY_CODE = "bench-points"
MARK = "bench"  # Customer.source_detail of every generated customer
BASE_PERCENT = 2
LIFETIME_DAYS = 365
HISTORY_DAYS = 330
PARTNERS = 12
STORES_PER_PARTNER = 5
TERMINALS_PER_STORE = 2
PRODUCTS = 2000
CATEGORIES = 20
BRANDS = 40
SQLITE_MAX_CUSTOMERS = 20_000
TIERS = [("base", "Base", 1, 0), ("silver", "Silver", 2, 15000_00), ("gold", "Gold", 3, 50000_00)]
FIRST_NAMES = ["Anna", "Maria", "Elena", "Olga", "Ivan", "Sergey", "Dmitry", "Pavel", "Irina"]
LAST_NAMES = ["Ivanov", "Petrov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Volkov"]

# The bulk tables, in load order, with the columns written (checked against the models).
BULK = {
    "customer": (
        Customer,
        "id public_id first_name middle_name last_name phone email birth_date gender "
        "registered_at source source_detail referral_code phone_verified email_verified "
        "is_anonymised anonymised_at comment created_at updated_at referrer_id merged_into_id "
        "merged_at",
    ),
    "card": (
        Card,
        "id number card_type status programme_id batch_id customer_id is_virtual issued_at "
        "activated_at blocked_at block_reason replaced_by_id created_at",
    ),
    "account": (
        Account,
        "id kind purpose currency_id customer_id partner_id balance pending held debt_limit "
        "version created_at updated_at",
    ),
    "membership": (
        TierMembership,
        "id customer_id programme_id tier_id qualifying_amount since is_manual",
    ),
    "receipt": (
        Receipt,
        "id terminal_id store_id partner_id receipt_id status customer_id card_id currency_id "
        "sold_at recorded_at is_offline total discount points_spent to_pay points_earned "
        "spent_points tier_amount is_flagged offline_shortfall fingerprint result",
    ),
    "posting": (
        Posting,
        "id kind cause cause_ref receipt_id actor_type terminal_id user_id actor_name "
        "partner_id reverses_id description occurred_at recorded_at",
    ),
    "entry": (
        LedgerEntry,
        "id posting_id account_id currency_id bucket amount balance_after account_version "
        "lot_id active_at expires_at recorded_at",
    ),
    "lot": (
        Lot,
        "entry_id account_id kind state amount remaining active_at expires_at receipt_id"
        " spend_rule_id",
    ),
}
# Kept while loading: the ledger trigger finds each inserted posting's legs through it.
KEEP_INDEXES = {"loyalty_ledgerentry_posting_id_e86ed2aa"}


class BenchDataError(Exception):
    """The database is not one the generator may write into."""


@dataclass
class Summary:
    customers: int = 0
    receipts: int = 0
    postings: int = 0
    entries: int = 0
    lots: int = 0
    spends: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    terminals: int = 0
    products: int = 0


def kop(value: int) -> str:
    """Kopecks (or hundredths of a point) as a decimal string."""
    if value < 0:
        value = -value
        return f"-{value // 100}.{value % 100:02d}"
    return f"{value // 100}.{value % 100:02d}"


# --- Guards ---------------------------------------------------------------------------------


def foreign_data() -> list[str]:
    """What in the database was not made by this generator."""
    found = []
    customers = Customer.objects.exclude(source_detail=MARK).count()
    if customers:
        found.append(f"{customers} customers")
    programmes = Programme.objects.exclude(code=PROGRAMME_CODE).count()
    if programmes:
        found.append(f"{programmes} programmes")
    partners = Partner.objects.exclude(code__startswith="bench-").count()
    if partners:
        found.append(f"{partners} partners")
    return found


def bench_data_present() -> bool:
    return Programme.objects.filter(code=PROGRAMME_CODE).exists()


def reset_tables() -> None:
    """Empty every table of the project's apps (PostgreSQL: TRUNCATE, which no trigger sees)."""
    from django.apps import apps

    labels = {"crm", "loyalty", "promotions", "communications", "contactcenter", "reports"}
    tables = [
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in labels and model._meta.managed and not model._meta.proxy
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                if table in ("loyalty_posting", "loyalty_ledgerentry"):
                    continue  # SQLite refuses nothing on DELETE (see migration 0002)
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
            for table in ("loyalty_ledgerentry", "loyalty_posting"):
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("PRAGMA foreign_keys = ON")
    from loyalty.services.ledger import system_accounts_forget

    system_accounts_forget()


# --- The coalition (ORM) --------------------------------------------------------------------


@dataclass
class Coalition:
    programme: Programme
    currency: Currency
    batch: CardBatch
    tiers: list[tuple[int, int]]  # (threshold in kopecks, tier id), highest first
    terminals: list[Terminal]
    terminal_weights: list[float]
    partner_accounts: dict[int, int]  # partner id -> account id
    keys: list[dict]
    skus: list[str]
    promotion_id: int


def coalition(rng: random.Random, now: datetime) -> Coalition:
    programme = Programme.objects.create(
        code=PROGRAMME_CODE,
        name="Bench coalition",
        max_spend_percent=Decimal("50.00"),
        min_money_payment=Decimal("1.00"),
    )
    currency = Currency.objects.create(
        programme=programme, code=CURRENCY_CODE, name="Bench points", is_default=True
    )
    tiers = []
    for code, name, rank, threshold in TIERS:
        tier = Tier.objects.create(
            programme=programme, code=code, name=name, rank=rank, threshold=kop(threshold)
        )
        tiers.append((threshold, tier.pk))
    tiers.sort(reverse=True)
    promotion = Promotion.objects.create(
        programme=programme,
        name="Base 2% bonus",
        status=Promotion.Status.ACTIVE,
        starts_at=now - timedelta(days=HISTORY_DAYS + 30),
    )
    Reward.objects.create(
        promotion=promotion,
        kind=Reward.Kind.POINTS_PERCENT,
        value=Decimal(BASE_PERCENT),
        currency=currency,
        lifetime_days=LIFETIME_DAYS,
    )
    batch = CardBatch.objects.create(
        programme=programme,
        code="bench-cards",
        name="Bench cards",
        prefix="2900",
        number_length=13,
        check_digit=CardBatch.CheckDigit.EAN13,
        source=CardBatch.Source.IMPORTED,
    )
    terminals, weights, keys, partner_accounts = [], [], [], {}
    for p in range(1, PARTNERS + 1):
        partner = Partner.objects.create(
            code=f"bench-p{p:02d}",
            name=f"Bench partner {p:02d}",
            legal_name=f'LLC "Bench Partner {p:02d}"',
            tax_id=tax_id_check_digits(f"7701{p:05d}"),
        )
        partner_accounts[partner.pk] = partner_account(partner, currency).pk
        popularity = rng.choice([1, 2, 3, 5, 8])
        for s in range(1, STORES_PER_PARTNER + 1):
            store = Store.objects.create(
                partner=partner,
                code=f"bench-p{p:02d}-s{s}",
                name=f"Bench partner {p:02d} store {s}",
                city="Novosibirsk",
                timezone="Asia/Novosibirsk",
            )
            for t in range(1, TERMINALS_PER_STORE + 1):
                terminal = Terminal.objects.create(
                    store=store, code=f"bench-p{p:02d}-s{s}-t{t}", name=f"register {t}"
                )
                terminal.store = store
                store.partner = partner
                _key, raw = terminal_key_issue(terminal=terminal, name="bench")
                terminals.append(terminal)
                weights.append(popularity)
                keys.append({"terminal": terminal.code, "key": raw})
    categories = []
    for c in range(CATEGORIES):
        categories.append(Category.objects.create(code=f"bench-c{c:02d}", name=f"Category {c}"))
    brands = Brand.objects.bulk_create([Brand(name=f"Bench brand {b:02d}") for b in range(BRANDS)])
    products = []
    for n in range(PRODUCTS):
        payload = f"469{n:09d}"
        products.append(
            Product(
                sku=payload + ean13_check_digit(payload),
                name=f"Bench product {n}",
                category=categories[n % CATEGORIES],
                brand=brands[n % BRANDS],
            )
        )
    Product.objects.bulk_create(products, batch_size=1000)
    snapshot_invalidate()
    return Coalition(
        programme=programme,
        currency=currency,
        batch=batch,
        tiers=tiers,
        terminals=terminals,
        terminal_weights=weights,
        partner_accounts=partner_accounts,
        keys=keys,
        skus=[p.sku for p in products],
        promotion_id=promotion.pk,
    )


# --- The bulk: rows as COPY text lines --------------------------------------------------------


@dataclass
class Ids:
    """The next free primary key of each bulk table (ids are assigned here, not by sequences)."""

    customer: int
    card: int
    account: int
    membership: int
    receipt: int
    posting: int
    entry: int


def next_ids() -> Ids:
    def top(model) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")
            return cursor.fetchone()[0] + 1

    return Ids(
        customer=top(Customer),
        card=top(Card),
        account=top(Account),
        membership=top(TierMembership),
        receipt=top(Receipt),
        posting=top(Posting),
        entry=top(LedgerEntry),
    )


class Chunk:
    """Lines of each bulk table for a run of customers; always whole postings."""

    def __init__(self):
        self.lines: dict[str, list[str]] = {name: [] for name in BULK}
        self.customers = self.receipts = self.postings = self.entries = self.lots = 0
        self.spends = 0


class Generator:
    """Computes the history of each customer, as the ledger service would have written it."""

    def __init__(
        self,
        co: Coalition,
        ids: Ids,
        now: datetime,
        customers: int,
        entries: int,
        seed: int,
        timestamp_suffix: str,
    ):
        self.co = co
        self.ids = ids
        self.rng = random.Random(seed)
        self.customers = customers
        self.target_entries = entries
        self.suffix = timestamp_suffix
        self._ts_cache: dict[int, str] = {}
        self.now_minute = int(now.timestamp() // 60)
        self.now_text = self.ts(self.now_minute)
        self.start_minute = self.now_minute - HISTORY_DAYS * 1440
        self.end_minute = self.now_minute - 1440
        self.lifetime = LIFETIME_DAYS * 1440
        self.partner_sums: dict[int, int] = dict.fromkeys(co.partner_accounts, 0)
        self.entries_done = 0
        self.purchases_done = 0
        self.receipt_seq = 0
        t = co.terminals
        self.term = [
            (x.pk, x.store_id, x.store.partner_id, co.partner_accounts[x.store.partner_id])
            for x in t
        ]
        total = sum(co.terminal_weights)
        acc, self.cum_weights = 0.0, []
        for w in co.terminal_weights:
            acc += w / total
            self.cum_weights.append(acc)

    def ts(self, minute: int) -> str:
        text = self._ts_cache.get(minute)
        if text is None:
            moment = datetime.fromtimestamp(minute * 60, tz=UTC)
            text = moment.strftime("%Y-%m-%d %H:%M:%S") + self.suffix
            if len(self._ts_cache) < 2_000_000:
                self._ts_cache[minute] = text
        return text

    def _purchases(self, index: int) -> int:
        """How many purchases customer ``index`` made: random, steered to the entry target."""
        left_customers = self.customers - index
        left_entries = self.target_entries - self.entries_done
        if left_entries <= 0:
            return self.rng.randint(0, 2)
        per_purchase = self.entries_done / self.purchases_done if self.purchases_done > 50 else 2.6
        mean = left_entries / left_customers / per_purchase
        if left_customers == 1:
            return max(1, int(mean + 0.999))
        low = max(0, int(mean * 0.3))
        high = max(low, int(mean * 1.7 + 0.999))
        k = self.rng.randint(low, high)
        # keep the mean exact on average whatever the rounding did
        if self.rng.random() < (mean - (low + high) / 2):
            k += 1
        return k

    def chunks(self, size: int) -> Iterator[Chunk]:
        for start in range(0, self.customers, size):
            chunk = Chunk()
            for index in range(start, min(start + size, self.customers)):
                self.customer(index, chunk)
            yield chunk

    def customer(self, index: int, chunk: Chunk) -> None:
        rng, co, ids = self.rng, self.co, self.ids
        L = chunk.lines
        cid, card_id, acc_id = ids.customer, ids.card, ids.account
        ids.customer += 1
        ids.card += 1
        ids.account += 1
        registered = self.ts(self.start_minute - rng.randint(1440, 400 * 1440))
        now = self.now_text
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"bench{index}@bench.example" if index % 3 == 0 else "\\N"
        L["customer"].append(
            f"{cid}\tc_bn{index:010d}\t{first}\t\t{last}\t+7999{index:07d}\t{email}\t\\N\tunknown"
            f"\t{registered}\timport\t{MARK}\tB{index:09d}\tf\tf\tf\t\\N\t\t{now}\t{now}\t\\N"
            "\t\\N\t\\N\n"
        )
        L["card"].append(
            f"{card_id}\t{card_number(index)}\tloyalty\tactive\t{co.programme.pk}\t{co.batch.pk}"
            f"\t{cid}\tf\t{registered}\t{registered}\t\\N\t\t\\N\t{now}\n"
        )
        currency_id = co.currency.pk
        balance = version = qualifying = 0
        lots: list[list] = []  # [entry id, remaining, amount, active text, expires text, receipt]
        k = self._purchases(index)
        minutes = sorted(rng.randint(self.start_minute, self.end_minute) for _ in range(k))
        last_customer = index == self.customers - 1
        entries = 0
        n = 0
        while n < len(minutes) or (
            last_customer and self.entries_done + entries < self.target_entries
        ):
            if n == len(minutes):  # the last customer tops the ledger up to the target
                minutes.append(
                    rng.randint(minutes[-1] if minutes else self.start_minute, self.end_minute)
                )
            minute = minutes[n]
            n += 1
            i = min(bisect_left(self.cum_weights, rng.random()), len(self.term) - 1)
            terminal_id, store_id, partner_id, partner_acc = self.term[i]
            sold = self.ts(minute)
            total = rng.randint(150_00, 4000_00)
            spent = 0
            if balance >= 50_00 and rng.random() < 0.3:
                cap = min((total * 50 + 50) // 100, total - 1_00)
                spent = min(balance if rng.random() < 0.5 else balance // 2, cap)
            to_pay = total - spent
            earned = (to_pay * BASE_PERCENT + 50) // 100
            qualifying += to_pay
            receipt_id = ids.receipt
            ids.receipt += 1
            self.receipt_seq += 1
            L["receipt"].append(
                f"{receipt_id}\t{terminal_id}\t{store_id}\t{partner_id}\tH{self.receipt_seq:011d}"
                f"\tconfirmed\t{cid}\t{card_id}\t{currency_id}\t{sold}\t{sold}\tf\t{kop(total)}"
                f"\t0.00\t{kop(spent)}\t{kop(to_pay)}\t{kop(earned)}\t{kop(spent)}\t{kop(to_pay)}"
                "\tf\t0\t\t{}\n"
            )
            chunk.receipts += 1
            if spent:
                posting_id = ids.posting
                ids.posting += 1
                L["posting"].append(
                    f"{posting_id}\tspend\treceipt\t\t{receipt_id}\tterminal\t{terminal_id}\t\\N"
                    f"\t\t{partner_id}\t\\N\t\t{sold}\t{sold}\n"
                )
                left = spent
                for lot in lots:
                    if not left:
                        break
                    take = min(lot[1], left)
                    if not take:
                        continue
                    lot[1] -= take
                    left -= take
                    balance -= take
                    version += 1
                    L["entry"].append(
                        f"{ids.entry}\t{posting_id}\t{acc_id}\t{currency_id}\tactive\t{kop(-take)}"
                        f"\t{kop(balance)}\t{version}\t{lot[0]}\t\\N\t\\N\t{sold}\n"
                    )
                    ids.entry += 1
                    entries += 1
                L["entry"].append(
                    f"{ids.entry}\t{posting_id}\t{partner_acc}\t{currency_id}\tactive"
                    f"\t{kop(spent)}\t\\N\t\\N\t\\N\t\\N\t\\N\t{sold}\n"
                )
                ids.entry += 1
                entries += 1
                self.partner_sums[partner_id] += spent
                chunk.postings += 1
                chunk.spends += 1
            if earned:
                posting_id = ids.posting
                ids.posting += 1
                L["posting"].append(
                    f"{posting_id}\tearn\treceipt\tpromotion:{co.promotion_id}\t{receipt_id}\tterminal"
                    f"\t{terminal_id}\t\\N\t\t{partner_id}\t\\N\t\t{sold}\t{sold}\n"
                )
                balance += earned
                version += 1
                expires = self.ts(minute + self.lifetime)
                lot_id = ids.entry
                L["entry"].append(
                    f"{lot_id}\t{posting_id}\t{acc_id}\t{currency_id}\tactive\t{kop(earned)}"
                    f"\t{kop(balance)}\t{version}\t\\N\t{sold}\t{expires}\t{sold}\n"
                    f"{lot_id + 1}\t{posting_id}\t{partner_acc}\t{currency_id}\tactive"
                    f"\t{kop(-earned)}\t\\N\t\\N\t\\N\t\\N\t\\N\t{sold}\n"
                )
                ids.entry += 2
                entries += 2
                lots.append([lot_id, earned, earned, sold, expires, receipt_id])
                self.partner_sums[partner_id] -= earned
                chunk.postings += 1
        for lot_id, remaining, amount, active, expires, receipt_id in lots:
            L["lot"].append(
                f"{lot_id}\t{acc_id}\tearn\tactive\t{kop(amount)}\t{kop(remaining)}\t{active}"
                f"\t{expires}\t{receipt_id}\t\\N\n"
            )
        L["account"].append(
            f"{acc_id}\tcustomer\tmain\t{currency_id}\t{cid}\t\\N\t{kop(balance)}\t0\t0\t0"
            f"\t{version}\t{registered}\t{now}\n"
        )
        tier_id = next(tid for threshold, tid in self.co.tiers if qualifying >= threshold)
        L["membership"].append(
            f"{ids.membership}\t{cid}\t{co.programme.pk}\t{tier_id}\t{kop(qualifying)}"
            f"\t{registered}\tf\n"
        )
        ids.membership += 1
        chunk.customers += 1
        chunk.lots += len(lots)
        chunk.entries += entries
        self.entries_done += entries
        self.purchases_done += n


# --- Writers ----------------------------------------------------------------------------------


def _columns(name: str) -> list[str]:
    model, columns = BULK[name]
    declared = columns.split()
    actual = {f.column for f in model._meta.concrete_fields}
    if set(declared) != actual:
        raise BenchDataError(
            f"{model._meta.db_table}: the generator writes {sorted(set(declared))}, "
            f"the model has {sorted(actual)}; update bench/data.py"
        )
    return declared


def _table(name: str) -> str:
    return BULK[name][0]._meta.db_table


def copy_writer(raw_cursor) -> Callable[[str, list[str]], None]:
    """Write lines with ``COPY ... FROM STDIN`` (PostgreSQL text format)."""
    columns = {name: ", ".join(_columns(name)) for name in BULK}

    def write(name: str, lines: list[str]) -> None:
        if not lines:
            return
        with raw_cursor.copy(f"COPY {_table(name)} ({columns[name]}) FROM STDIN") as copy:
            for start in range(0, len(lines), 20000):
                copy.write("".join(lines[start : start + 20000]))

    return write


def insert_writer(raw_cursor) -> Callable[[str, list[str]], None]:
    """Write lines with ``executemany`` (SQLite, small runs only)."""
    columns = {name: _columns(name) for name in BULK}

    def value(text: str):
        if text == "\\N":
            return None
        if text in ("t", "f"):
            return text == "t"
        return text

    def write(name: str, lines: list[str]) -> None:
        if not lines:
            return
        cols = columns[name]
        sql = (
            f"INSERT INTO {_table(name)} ({', '.join(cols)}) "
            f"VALUES ({', '.join(['%s'] * len(cols))})"
        )
        rows = [[value(v) for v in line[:-1].split("\t")] for line in lines]
        raw_cursor.executemany(sql, rows)

    return write


# --- Schema: drop what makes a bulk load slow, put it back after --------------------------------


def _bulk_tables() -> list[str]:
    return [_table(name) for name in BULK]


def schema_strip(cursor) -> list[tuple[str, str]]:
    """Drop the secondary indexes and the FK/unique constraints of the bulk tables; return the
    statements that re-create them, in order (indexes, unique constraints, foreign keys)."""
    tables = _bulk_tables()
    # The setup's rows queued deferred FK checks; a table with pending events cannot be altered.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('f', 'u')
        ORDER BY c.contype DESC, c.conname
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        [tables],
    )
    indexes = [(name, sql) for name, sql in cursor.fetchall() if name not in KEEP_INDEXES]
    restore: list[tuple[str, str]] = []
    for name, table, _kind, _definition in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, sql in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
        restore.append((name, sql))
    for name, table, _kind, definition in sorted(constraints, key=lambda c: c[2] != "u"):
        restore.append((name, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    return restore


def schema_restore(cursor, restore: list[tuple[str, str]], log) -> None:
    for name, sql in restore:
        started = time.monotonic()
        cursor.execute(sql)
        took = time.monotonic() - started
        if took >= 2:
            log(f"  {name}: {took:.1f} s")


# --- The whole run ----------------------------------------------------------------------------


def generate(
    *,
    customers: int,
    entries: int,
    seed: int = 2026,
    chunk_size: int = 25_000,
    vacuum: bool = True,
    keys_file: Path = KEYS_FILE,
    log: Callable[[str], None] = print,
) -> Summary:
    """Generate into the default database; see the module docstring. Returns what was made."""
    summary = Summary()
    postgres = connection.vendor == "postgresql"
    started = time.monotonic()
    now = timezone.now()
    rng = random.Random(seed)
    with transaction.atomic():
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        co = coalition(rng, now)
        summary.terminals, summary.products = len(co.terminals), len(co.skus)
        for name in BULK:
            _columns(name)
        ids = next_ids()
        gen = Generator(co, ids, now, customers, entries, seed, "+00" if postgres else "")
        summary.timings["setup"] = time.monotonic() - started
        with connection.cursor() as cursor:
            raw = cursor.cursor
            restore = []
            if postgres:
                mark = time.monotonic()
                restore = schema_strip(raw)
                summary.timings["drop indexes"] = time.monotonic() - mark
            write = copy_writer(raw) if postgres else insert_writer(raw)
            mark = time.monotonic()
            for chunk in _threaded(gen.chunks(chunk_size)):
                for name in BULK:
                    write(name, chunk.lines[name])
                summary.customers += chunk.customers
                summary.receipts += chunk.receipts
                summary.postings += chunk.postings
                summary.entries += chunk.entries
                summary.lots += chunk.lots
                summary.spends += chunk.spends
                if summary.customers % (chunk_size * 8) == 0 or summary.customers == customers:
                    elapsed = time.monotonic() - mark
                    log(
                        f"{summary.customers:>9,} customers, {gen.entries_done:>11,} ledger"
                        f" entries, {elapsed:6.0f} s"
                    )
            summary.timings["copy"] = time.monotonic() - mark
            if postgres:
                mark = time.monotonic()
                log("re-creating indexes and constraints (those over 2 s listed):")
                schema_restore(raw, restore, log)
                summary.timings["indexes and constraints"] = time.monotonic() - mark
            for partner_id, total in gen.partner_sums.items():
                Account.objects.filter(pk=co.partner_accounts[partner_id]).update(
                    balance=Decimal(total) / 100
                )
            if postgres:
                for name in ("customer", "card", "account", "membership", "receipt"):
                    _setval(raw, _table(name))
                _setval(raw, "loyalty_posting")
                _setval(raw, "loyalty_ledgerentry")
        # the other sides: one partner entry per posting leg
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM loyalty_ledgerentry")
            summary.entries = cursor.fetchone()[0]
    if postgres and vacuum:
        mark = time.monotonic()
        with connection.cursor() as cursor:
            for table in _bulk_tables():
                cursor.execute(f"VACUUM (ANALYZE) {table}")
        summary.timings["vacuum analyze"] = time.monotonic() - mark
    write_keys(co, customers, keys_file)
    summary.timings["total"] = time.monotonic() - started
    return summary


def _setval(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
    )


def _threaded(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Compute the next chunk while the database takes the current one."""
    box: queue.Queue = queue.Queue(maxsize=2)
    stop = object()

    def produce():
        try:
            for chunk in chunks:
                box.put(chunk)
        except BaseException as exc:  # handed to the consumer
            box.put(exc)
            return
        box.put(stop)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    while True:
        item = box.get()
        if item is stop:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    worker.join()


def write_keys(co: Coalition, customers: int, path: Path) -> None:
    data = {
        "database": connection.settings_dict.get("NAME"),
        "generated_at": timezone.now().isoformat(),
        "customers": customers,
        "card_prefix": "2900",
        "terminals": co.keys,
        "skus": co.skus,
    }
    path.write_text(json.dumps(data, indent=1))
    path.chmod(0o600)
