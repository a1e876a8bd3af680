"""Shared fixtures. Factories live in tests/factories, one module per app."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from loyalty.reconciliation import ledger_violations


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs the suite on every core) each worker has its own
    test database (pytest-django names it after the worker) and, with a shared Redis, its own
    cache key prefix: the workers' rows have the same ids, so their throttle counters and cached
    rules would otherwise meet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        from django.conf import settings

        for cache in settings.CACHES.values():
            cache["KEY_PREFIX"] = f"{cache.get('KEY_PREFIX', '')}{worker}"


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, visibly; in CI (REQUIRE_POSTGRES=1) never skip."""
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def celery_eager():
    """Run Celery tasks in the test's process, as the demo does without a broker. The
    PostgreSQL + Redis run of CI configures a broker, where ``delay`` would queue the task for
    a worker that is not there."""
    from config.celery import app

    before = app.conf.get("task_always_eager")
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture
def browser_page():
    """A page of Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    Without chromium the test is skipped with the reason; with REQUIRE_BROWSER=1 (CI) it fails.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {CHROMIUM} does not exist")
        pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium; CI does)")
    from playwright.sync_api import sync_playwright

    # A connection an earlier browser test's clean-up ended is replaced before this one uses it.
    _fresh_connections()
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # ordinary synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        # The test's ORM calls now run in the event loop's context, whose connections are
        # their own: drop any an earlier browser test's clean-up ended.
        _fresh_connections()
        try:
            yield page
        finally:
            browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    _close_live_server_sessions()
    _fresh_connections()


def _fresh_connections() -> None:
    """Drop this thread's database connections outside a transaction (the next query opens a
    new one): ending the live server's sessions may have ended one of them too."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def _close_live_server_sessions() -> None:
    """End the database sessions the live server's request threads left open (a browser's
    kept-alive connection outlives the server), so the test database can be dropped."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def assert_ledger_consistent():
    """Call after a scenario: fails listing every broken ledger invariant."""

    def check(account_ids: list[int] | None = None) -> None:
        problems = ledger_violations(account_ids)
        assert not problems, "ledger invariants broken:\n" + "\n".join(problems[:50])

    return check


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _fresh_rules_snapshot():
    """Every test starts from the rules in its own database, not a snapshot left by another."""
    from loyalty.services.ledger import system_accounts_forget
    from processing.api.auth import keys_forget
    from promotions.rules import history
    from promotions.rules.snapshot import snapshot_invalidate

    snapshot_invalidate()
    system_accounts_forget()
    keys_forget()
    history.forget()
    yield
    snapshot_invalidate()
    system_accounts_forget()
    keys_forget()
    history.forget()


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request in Russian (the language cookie,
    LocaleMiddleware) leaves Russian active in the test's thread after it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
