"""Other users keep working during an import on the SQLite demo: the import commits in chunks
of IMPORT_CHUNK_ROWS, each a short IMMEDIATE transaction, so a concurrent write waits for one
chunk at most instead of failing with "database is locked".

The import and the writes run in another process (tests/loyalty/sqlite_import_writer.py) on a
SQLite *file* with the project's own settings: the test database is in memory, where SQLite's
shared cache refuses a second writer at once instead of waiting for it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.processing.api.gunicorn_server import database_url_of_the_test


def test_the_sqlite_settings_queue_writers_instead_of_failing_them():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite settings apply to SQLite only")
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 20
    assert "journal_mode=WAL" in options["init_command"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the copy needs the database committed
def test_a_concurrent_write_succeeds_while_an_import_runs_on_sqlite(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("this is about the SQLite demo; PostgreSQL has row locks")
    # given: the migrated test database, copied to a file
    database = database_url_of_the_test(tmp_path).removeprefix("sqlite:///")

    # when: 20,000 cards are imported while another thread writes
    answer = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.loyalty.sqlite_import_writer",
            database,
            str(tmp_path),
            "20000",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"},
    )

    # then
    assert answer.returncode == 0, answer.stderr[-3000:]
    outcome = json.loads(answer.stdout.strip().splitlines()[-1])
    assert outcome["journal_mode"] == "wal"
    assert outcome["status"] == "done"
    assert outcome["cards_created"] == 20000
    assert outcome["errors"] == []
    assert outcome["writes_during_import"] >= 1  # between chunks; how many depends on the load
    assert outcome["max_wait"] < 10, outcome
