"""Batched SQL on PostgreSQL: statements composed into one round trip, and the ledger's rows
written that way (the purchase fast path and the ledger share them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Field, Model
from psycopg.adapt import Transformer

from loyalty.models import Account, Lot
from loyalty.models.ledger import LedgerEntry, Posting

Statement = tuple[str, list]


ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]


LOT_FIELDS = [f.attname for f in Lot._meta.concrete_fields]


POSTING_COLUMNS = [f.attname for f in Posting._meta.concrete_fields]


ENTRY_COLUMNS = [f.attname for f in LedgerEntry._meta.concrete_fields]


def _compose(statements: Sequence[Statement]) -> bytes:
    """The statements as one query, each value quoted by psycopg as a literal.

    This is what psycopg's client-side binding does, without its placeholder parser, which
    costs milliseconds on a query with hundreds of values (it caches only short queries). The
    SQL of this module holds no ``%`` but its ``%s`` placeholders.
    """
    literal = Transformer(connection.connection).as_literal
    out: list[bytes] = []
    for text, params in statements:
        parts = text.encode().split(b"%s")
        if len(parts) != len(params) + 1:
            raise ValueError(f"{len(parts) - 1} placeholders, {len(params)} values: {text[:60]}")
        out.append(parts[0])
        for value, part in zip(params, parts[1:], strict=True):
            out.append(literal(value) if value is not None else b"NULL")
            out.append(part)
        out.append(b";\n")
    return b"".join(out)


def run(statements: Sequence[Statement]) -> list[list[tuple]]:
    """Send ``statements`` in one round trip; return each one's rows (``[]`` for no rows)."""
    connection.ensure_connection()
    query = _compose(statements)
    results: list[list[tuple]] = []
    with connection.cursor() as cursor:
        cursor.execute(query)
        while True:
            results.append(cursor.fetchall() if cursor.description else [])
            if not cursor.nextset():
                break
    return results


def marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def values_list(rows: Sequence[Sequence], casts: Sequence[str] = ()) -> tuple[str, list]:
    """``(%s, %s), (%s, %s)`` for ``rows`` and their flattened parameters."""
    width = len(rows[0])
    marks = [f"%s::{casts[i]}" if i < len(casts) and casts[i] else "%s" for i in range(width)]
    one = "(" + ", ".join(marks) + ")"
    return ", ".join([one] * len(rows)), [value for row in rows for value in row]


def concrete_field(model: type[Model], name: str) -> Field:
    """``model``'s field ``name`` (``get_field`` answers reverse relations too)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is a relation, not a field")
    return field


def quoted_column(field: Field) -> str:
    """The quoted column of a concrete field (a field without one has ``column`` None)."""
    if field.column is None:
        raise TypeError(f"{field} has no column")
    return connection.ops.quote_name(field.column)


def from_db(model, fields: list[str], row: Sequence):
    """An instance of ``model`` from ``row``, whose values are in the order of ``fields``
    (``from_db`` wants them in the model's order when some fields are deferred)."""
    if len(fields) == len(model._meta.concrete_fields):  # all of them, in the model's order
        return model.from_db(connection.alias, fields, tuple(row))
    by_name = dict(zip(fields, row, strict=True))
    ordered = [f.attname for f in model._meta.concrete_fields if f.attname in by_name]
    return model.from_db(connection.alias, ordered, tuple(by_name[name] for name in ordered))


def insert(table: str, columns: Sequence[str], rows: Sequence[Sequence], casts=()) -> Statement:
    values, params = values_list(rows, casts)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params


def ledger_statements(
    postings: Sequence[Posting],
    entries: Sequence[LedgerEntry],
    accounts: Iterable[Account],
    opened: Sequence[Lot],
    moved: Iterable[Lot],
) -> list[Statement]:
    """Postings, their entries in one statement (the balance trigger checks per statement),
    the lots opened and moved, the locked accounts' caches."""
    statements = [
        insert(
            "loyalty_posting",
            POSTING_COLUMNS,
            [[getattr(p, name) for name in POSTING_COLUMNS] for p in postings],
        ),
        insert(
            "loyalty_ledgerentry",
            ENTRY_COLUMNS,
            [[getattr(e, name) for name in ENTRY_COLUMNS] for e in entries],
        ),
    ]
    if opened:
        statements.append(
            insert(
                "loyalty_lot", LOT_FIELDS, [[getattr(lot, n) for n in LOT_FIELDS] for lot in opened]
            )
        )
    moved = list(moved)
    if moved:
        values, params = values_list(
            [[lot.pk, lot.remaining, lot.state] for lot in moved], ["bigint", "numeric", "text"]
        )
        statements.append(
            (
                "UPDATE loyalty_lot AS l SET remaining = v.remaining, state = v.state"
                f" FROM (VALUES {values}) AS v(entry_id, remaining, state)"
                " WHERE l.entry_id = v.entry_id",
                params,
            )
        )
    for account in accounts:
        statements.append(
            (
                "UPDATE loyalty_account SET balance = %s, pending = %s, version = %s,"
                " updated_at = %s WHERE id = %s",
                [account.balance, account.pending, account.version, account.updated_at, account.pk],
            )
        )
    return statements
