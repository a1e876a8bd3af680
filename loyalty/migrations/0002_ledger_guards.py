"""Database guards for the ledger, so that no client (not only the ORM) can break it.

- Postings and entries are append-only: UPDATE is refused on every database, DELETE on
  PostgreSQL (SQLite's test flush deletes rows, and nothing but tests deletes there).
- On PostgreSQL, a statement trigger checks after every INSERT that each posting it touched
  sums to zero per currency and that each entry is in its account's currency (invariant L3).
  The legs of a posting must therefore be inserted in one statement, as the ledger service does.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION loyalty_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER loyalty_posting_append_only BEFORE UPDATE OR DELETE ON loyalty_posting
    FOR EACH ROW EXECUTE FUNCTION loyalty_refuse_change();
CREATE TRIGGER loyalty_ledgerentry_append_only BEFORE UPDATE OR DELETE ON loyalty_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_refuse_change();

CREATE OR REPLACE FUNCTION loyalty_posting_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    SELECT i.id, i.account_id INTO bad
        FROM inserted i JOIN loyalty_account a ON a.id = i.account_id
        WHERE a.currency_id <> i.currency_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry % is not in the currency of account %', bad.id, bad.account_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT e.posting_id, e.currency_id, SUM(e.amount) AS total INTO bad
        FROM loyalty_ledgerentry e
        WHERE e.posting_id IN (SELECT DISTINCT posting_id FROM inserted)
        GROUP BY e.posting_id, e.currency_id HAVING SUM(e.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % does not balance: currency % sums to %',
            bad.posting_id, bad.currency_id, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- One check per INSERT statement, over the rows it inserted: the ledger service writes all
-- the legs of a posting in one statement, so a posting must balance by the end of it.
CREATE TRIGGER loyalty_ledgerentry_balanced AFTER INSERT ON loyalty_ledgerentry
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_posting_balanced();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS loyalty_ledgerentry_balanced ON loyalty_ledgerentry;
DROP FUNCTION IF EXISTS loyalty_posting_balanced();
DROP TRIGGER IF EXISTS loyalty_ledgerentry_append_only ON loyalty_ledgerentry;
DROP TRIGGER IF EXISTS loyalty_posting_append_only ON loyalty_posting;
DROP FUNCTION IF EXISTS loyalty_refuse_change();
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER loyalty_posting_append_only BEFORE UPDATE ON loyalty_posting
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on loyalty_posting refused'); END""",
    """CREATE TRIGGER loyalty_ledgerentry_append_only BEFORE UPDATE ON loyalty_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on loyalty_ledgerentry refused'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS loyalty_posting_append_only",
    "DROP TRIGGER IF EXISTS loyalty_ledgerentry_append_only",
]


def run(schema_editor, statements):
    # A plain cursor: the SQL holds '%' signs that must not be read as parameters.
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        run(schema_editor, [POSTGRES_FORWARD])
    elif vendor == "sqlite":
        run(schema_editor, SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        run(schema_editor, [POSTGRES_BACKWARD])
    elif vendor == "sqlite":
        run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
