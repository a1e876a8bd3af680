"""Indexes on when receipts and refunds were written (``Receipt.recorded_at``,
``Refund.created_at``), for an incremental segment refresh (the customers whose purchases
changed since). Both columns grow with the rows' physical order (rows are only appended), so
on PostgreSQL they are BRIN indexes: a few pages for millions of rows, and next to nothing
added to writing a receipt; built ``CONCURRENTLY`` (the migration runs outside a
transaction). Elsewhere (SQLite) they are ordinary indexes. Django's model state does not
know them (a BRIN index cannot be declared portably): this migration is their only record."""

from django.db import migrations

INDEXES = [
    ("receipt_recorded_at_brin", "loyalty_receipt", "recorded_at"),
    ("refund_created_at_brin", "loyalty_refund", "created_at"),
]


def create(apps, schema_editor):
    for name, table, column in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING brin ({column})"
            )
        else:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")


def drop(apps, schema_editor):
    for name, _table, _column in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        else:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("loyalty", "0028_rfm_schedule")]

    operations = [migrations.RunPython(create, drop)]
