"""An index in the receipts list's order (newest first). On PostgreSQL it is built
``CONCURRENTLY``, so a large receipts table keeps taking purchases while it builds (the
migration runs outside a transaction for that); elsewhere it is an ordinary index."""

from django.db import migrations, models

INDEX = models.Index(fields=["-sold_at", "-id"], name="receipt_sold_at_idx")


def create(apps, schema_editor):
    Receipt = apps.get_model("loyalty", "Receipt")
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(Receipt._meta.db_table)
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} "
            f"ON {table} (sold_at DESC, id DESC)"
        )
    else:
        schema_editor.add_index(Receipt, INDEX)


def drop(apps, schema_editor):
    Receipt = apps.get_model("loyalty", "Receipt")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(Receipt, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0004_customer_anonymise_permission"),
        ("loyalty", "0024_import_jobs_chunked_resumable"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="receipt", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
