"""Server time and queries of the back office's pages on the demo data.

    DATABASE_URL=sqlite:////tmp/demo.sqlite3 .venv/bin/python -m bench.admin_pages [--rounds 5]

Needs a database loaded by ``manage.py demo`` (2,000 customers, ~14,000 receipts). Signs in as
the demo's ``admin`` (forced login, no password) and asks every registered model's list page,
the change page of its first row, the home page, the campaign calendar, the receipt simulator
and the operator console through Django's whole middleware stack (``django.test.Client``,
DEBUG off). Prints, per page, the median server time of ``--rounds`` requests after one warm-up
and its queries, then the pages over the budget (25 queries, 300 ms) and the machine."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--budget-queries", type=int, default=25)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from bench.common import machine, machine_line

    settings.ALLOWED_HOSTS = ["*"]
    user = get_user_model().objects.filter(username="admin").first()
    if user is None:
        print("No demo here: load it with `manage.py demo` first.", file=sys.stderr)
        return 2
    client = Client()
    client.force_login(user)

    pages = [
        ("home", reverse("admin:index")),
        ("campaign calendar", reverse("admin:promotions_promotion_calendar")),
        ("receipt simulator", reverse("admin:promotions_promotion_simulator")),
        ("operator console", reverse("console:search") + "?q=+7916"),
    ]
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        pages.append((f"{opts.label} list", reverse(f"{name}_changelist")))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append((f"{opts.label} change", reverse(f"{name}_change", args=[first.pk])))

    rows = []
    for label, url in pages:
        client.get(url)  # warm-up
        times, queries, status = [], 0, 0
        for _ in range(args.rounds):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                status = client.get(url).status_code
                times.append((time.perf_counter() - start) * 1000)
            queries = len(captured)
        rows.append((label, status, statistics.median(times), queries))

    print(f"{'page':<48} {'status':>6} {'ms':>8} {'queries':>8}")
    for label, status, ms, queries in rows:
        print(f"{label:<48} {status:>6} {ms:>8.1f} {queries:>8}")
    over = [r for r in rows if r[2] >= args.budget_ms or r[3] >= args.budget_queries]
    slowest = max(rows, key=lambda r: r[2])
    most = max(rows, key=lambda r: r[3])
    print(
        f"\n{len(rows)} pages; slowest {slowest[0]} {slowest[2]:.1f} ms; most queries "
        f"{most[0]} {most[3]}; over the budget ({args.budget_queries} queries, "
        f"{args.budget_ms:.0f} ms): {len(over)}"
    )
    for label, status, ms, queries in over:
        print(f"  over: {label} {ms:.1f} ms, {queries} queries (status {status})")
    print(machine_line(machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
