"""In a real browser, under the production server: back-office staff import 100,000 cards.

gunicorn (config/gunicorn.conf.py, one sync worker, its 30-second timeout) serves the admin on
a copy of the test database (a SQLite file, or the PostgreSQL test database itself). The file
is above IMPORT_BACKGROUND_BYTES, so the check and the import run in the background (without a
broker: a thread of the web process) while the page shows a progress bar that polls the job's
JSON. The summary comes first, then the five bad rows with their reasons; the import creates
the other 99,995 cards.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from loyalty.models import Card, CardBatch
from loyalty.validators import luhn_check_digit
from tests.browser import log_in, screenshot
from tests.factories.loyalty import CardBatchFactory
from tests.processing.api.gunicorn_server import Gunicorn, database_url_of_the_test

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROWS = 100_000
BAD_ROWS = (7, 20_000, 50_001, 77_777, 99_999)  # a wrong check digit on these rows


def cards_csv(path) -> list[str]:
    """Write the file; return the numbers of its good rows."""
    good, lines = [], []
    for row in range(1, ROWS + 1):
        payload = f"88{row:010d}"
        number = payload + luhn_check_digit(payload)
        if row in BAD_ROWS:
            number = number[:-1] + str((int(number[-1]) + 1) % 10)
        else:
            good.append(number)
        lines.append(f"{number},WEB,loyalty,new,\n")
    path.write_text("number,batch,card_type,status,customer_phone\n" + "".join(lines))
    return good


def card_count(database_url: str) -> int:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return db.execute("SELECT count(*) FROM loyalty_card").fetchone()[0]
    return Card.objects.count()


def watch_progress(page, until: str, timeout: float) -> list[int]:
    """The progress bar's values seen until the element ``until`` appears (the page reloads
    itself when the stage ends)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(until).count():
            return seen
        bar = page.locator("#import-progress-bar")
        try:
            if bar.count():
                seen.append(int(bar.get_attribute("value", timeout=1000) or 0))
        except Exception:  # noqa: S110 the page reloaded between the two calls
            pass
        page.wait_for_timeout(150)
    raise AssertionError(f"{until} did not appear in {timeout} s; bar values seen: {seen}")


def test_staff_import_100k_cards_in_the_browser_under_gunicorn(browser_page, tmp_path):
    # given: a batch, a user and the file, then gunicorn on a copy of this database
    CardBatchFactory(code="WEB", check_digit=CardBatch.CheckDigit.LUHN)
    get_user_model().objects.create_superuser("office", "o@example.com", "s3cret-pass")
    csv_file = tmp_path / "cards.csv"
    good = cards_csv(csv_file)
    database_url = database_url_of_the_test(tmp_path)
    server = Gunicorn(
        tmp_path,
        database_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        IMPORT_BACKGROUND_BYTES=str(512 * 1024),
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page
    page.set_default_timeout(30_000)
    try:
        log_in(page, base, "office", "s3cret-pass")
        started = time.monotonic()

        # when: the card list's import button, the file uploaded
        page.goto(f"{base}/admin/loyalty/card/")
        page.click("a[href='/admin/loyalty/card/import/']")
        page.wait_for_url("**/cardimport/add/")
        page.set_input_files("#id_file", str(csv_file))
        page.click("button[name=_save]")
        page.wait_for_url("**/cardimport/*/change/")

        # then: a progress bar while the file is checked in the background, then the summary
        checking = watch_progress(page, "#import-confirm", timeout=120)
        checked_at = time.monotonic()
        summary = page.inner_text("#import-summary-text")
        assert summary == "100,000 rows: 99,995 new, 5 errors"
        table = page.inner_text("#import-error-table")
        assert table.count("has a wrong check digit") == 5
        assert page.locator("#import-bad-rows").count() == 1
        assert card_count(database_url) == 0

        # when: confirmed
        page.click("#import-confirm")

        # then: the progress bar again, then what the import did
        loading = watch_progress(page, '#import-status[data-status="done"]', timeout=120)
        finished_at = time.monotonic()
        assert page.inner_text("#import-summary-text") == "100,000 rows: 99,995 created, 5 errors"
        assert card_count(database_url) == len(good) == 99_995
        assert checking or loading, "the progress bar was never seen"
        assert any(0 <= value < 100 for value in checking + loading)
        print(  # noqa: T201 the timing, for the report
            f"\n100k import: check {checked_at - started:.1f} s, "
            f"import {finished_at - checked_at:.1f} s; bar values {checking[:5]}... {loading[:5]}..."
        )
        assert "[CRITICAL] WORKER TIMEOUT" not in server.log()
    finally:
        server.stop()
    if connection.vendor == "postgresql":
        Card.objects.all().delete()


def test_a_small_import_shows_its_summary_and_errors_before_anything_is_written(
    live_server, browser_page, tmp_path, settings
):
    # given: a batch, a user and a file of 20 rows, two with a wrong check digit (a small file
    # is checked inside the request)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    CardBatchFactory(code="WEB", check_digit=CardBatch.CheckDigit.LUHN)
    get_user_model().objects.create_superuser("office", "o@example.com", "s3cret-pass")
    lines = []
    for row in range(1, 21):
        payload = f"77{row:010d}"
        number = payload + luhn_check_digit(payload)
        if row in (3, 17):
            number = number[:-1] + str((int(number[-1]) + 1) % 10)
        lines.append(f"{number},WEB,loyalty,new,\n")
    csv_file = tmp_path / "cards.csv"
    csv_file.write_text("number,batch,card_type,status,customer_phone\n" + "".join(lines))
    page = browser_page
    log_in(page, live_server.url, "office", "s3cret-pass")

    # when: the card list's import button, the file uploaded
    page.goto(f"{live_server.url}/admin/loyalty/card/")
    page.click("a[href='/admin/loyalty/card/import/']")
    page.set_input_files("#id_file", str(csv_file))
    page.click("button[name=_save]")
    page.wait_for_selector("#import-confirm")

    # then: the summary first, the two errors with their reason in plain text, nothing written
    assert page.inner_text("#import-summary-text") == "20 rows: 18 new, 2 errors"
    table = page.inner_text("#import-error-table")
    assert table.count("has a wrong check digit") == 2
    assert Card.objects.count() == 0
    screenshot(page, "import-summary.png")

    # when confirmed: the good rows are imported
    page.click("#import-confirm")
    page.wait_for_selector('#import-status[data-status="done"]')
    assert page.inner_text("#import-summary-text") == "20 rows: 18 created, 2 errors"
    assert Card.objects.count() == 18
