"""Indexes for an incremental segment refresh (who changed since): customers by
``updated_at``, answers by ``answered_at``. On PostgreSQL they are built ``CONCURRENTLY`` so
that a large customers table keeps taking writes meanwhile (the migration runs outside a
transaction for that); elsewhere they are ordinary indexes."""

from django.db import migrations, models

INDEXES = [
    ("customer", "crm_customer", models.Index(fields=["updated_at"], name="customer_updated_idx")),
    (
        "profileanswer",
        "crm_profileanswer",
        models.Index(fields=["answered_at"], name="profile_answer_answered_idx"),
    ),
]


def create(apps, schema_editor):
    for model_name, _table, index in INDEXES:
        model = apps.get_model("crm", model_name)
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(model._meta.db_table)
            column = schema_editor.quote_name(index.fields[0])
            schema_editor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index.name} ON {table} ({column})"
            )
        else:
            schema_editor.add_index(model, index)


def drop(apps, schema_editor):
    for model_name, _table, index in INDEXES:
        model = apps.get_model("crm", model_name)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
        else:
            schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0008_segment_refresh_mode")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name=model_name, index=index)
                for model_name, _table, index in INDEXES
            ],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
