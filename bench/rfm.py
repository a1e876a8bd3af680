"""RFM on a large database: one run of a yearly scheme with the standard map, the refresh of a
segment per cell, then the server time and queries of the RF matrix page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench \\
        .venv/bin/python -m bench.rfm [--rounds 5] [--runs 2]

Needs a database loaded by ``manage.py bench_data`` (its receipts are in the programme's
currency). Makes the scheme ``bench-rfm`` of the first programme if it is not there (and its
segments), runs it ``--runs`` times (the second run has a previous one to move from), and asks
the matrix page as a superuser through the whole middleware stack (``django.test.Client``),
as ``bench.admin_pages`` does. Prints each run's time, the segments' refresh time, the page's
fastest and median time and its queries; exits 1 when the page's fastest round is 1 s or more.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PAGE_BUDGET_MS = 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from bench.admin_pages import measure
    from bench.common import machine, machine_line
    from crm.models import Customer
    from loyalty.models import Programme, Receipt, RfmScheme
    from loyalty.rfm.cells import standard_cells_create
    from loyalty.rfm.compute import rfm_recompute
    from loyalty.rfm.segments import rfm_cell_segments_create, rfm_segments_refresh

    settings.ALLOWED_HOSTS = ["*"]
    programme = Programme.objects.order_by("pk").first()
    if programme is None:
        print("No programme here: load the bench data first.", file=sys.stderr)
        return 2
    print(
        f"{Customer.objects.count():,} customers, {Receipt.objects.count():,} receipts "
        f"(programme {programme.code})"
    )
    scheme, made = RfmScheme.objects.get_or_create(
        programme=programme, code="bench-rfm", defaults={"name": "Bench RFM"}
    )
    if made:
        standard_cells_create(scheme)
    for number in range(args.runs):
        run = rfm_recompute(scheme.pk)
        print(
            f"run {number + 1}: {run.took_ms:,} ms, {run.size:,} scored, {run.buyers:,} bought in "
            f"the window, {run.changed:,} changed cell"
        )
    if made:
        rfm_cell_segments_create(scheme)
    start = time.perf_counter()
    refreshed = rfm_segments_refresh(scheme.pk)
    print(
        f"{refreshed.refreshed} cell segments refreshed in "
        f"{(time.perf_counter() - start) * 1000:,.0f} ms"
    )
    cells = scheme.runs.order_by("-as_of").first().stats.values("cell").annotate(n=Count("pk"))
    print(f"{len(cells)} named cells hold customers")

    user = get_user_model().objects.filter(is_superuser=True).first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-rfm", password=None)
    client = Client()
    client.force_login(user)
    url = reverse("admin:loyalty_rfmscheme_matrix", args=[scheme.pk])
    (page,) = measure(client, [("RF matrix", url)], args.rounds)
    print(
        f"RF matrix: status {page.status}, fastest {page.fastest_ms:.1f} ms, median "
        f"{page.median_ms:.1f} ms, {page.queries} queries"
    )
    print(machine_line(machine()))
    return 0 if page.status == 200 and page.fastest_ms < PAGE_BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
