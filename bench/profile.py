"""Where the milliseconds of one calculate / confirm go, measured in-process.

The real view runs through Django's whole middleware stack (``django.test.Client``: no
gunicorn, no socket), with DEBUG off, against the bench database. Three passes per endpoint:

1. **phases**: the hot path's functions are wrapped (here, not in the services) with timers
   that keep *exclusive* wall time per phase (time in a nested phase is not counted twice),
   and every SQL statement's round trip is timed and charged to the phase that sent it;
2. **cProfile**: the top functions by own time (``tottime``);
3. **queries**: ``CaptureQueriesContext`` lists the statements of one request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench \\
        .venv/bin/python -m bench.profile --requests 300
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

# Summary phases asked for in docs/benchmarks.md, and the fine phases that make them up.
GROUPS = {
    "auth (key lookup, throttle)": ["auth", "throttle"],
    "parsing (JSON, serializer, fingerprint)": ["parse+validate", "fingerprint"],
    "loading (card, holder, accounts, tiers, products, lots; locks in confirm)": [
        "load: before the lock (replay, card, accounts, tiers, products, lots)",
        "load: sale checks, programme",
        "load: lock accounts, replay, lots, tier (in confirm)",
        "load: spendable, mature",
        "load: context (lines, customer facts)",
        "load: open accounts",
    ],
    "engine evaluate": ["evaluate"],
    "ledger write (receipt, lines, postings, entries, lots, rewards, tier)": [
        "write: spend legs",
        "write: tier progress",
        "write: ids",
        "write: rows (receipt, lines, postings, entries, lots, accounts, rewards, tier)",
        "write: counters, holds",
        "confirm: the rest (receipt fields, earn specs)",
    ],
    "rendering (result dict, JSON)": ["render: result", "render: JSON"],
    "commit": ["commit"],
}


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to the bench database.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


class Phases:
    """Exclusive wall time and SQL per phase, with a stack for nesting."""

    def __init__(self):
        self.stack: list[list] = []  # [name, started]
        self.wall = defaultdict(float)
        self.sql_ms = defaultdict(float)
        self.sql_n = defaultdict(int)
        self.enabled = False

    def push(self, name: str) -> None:
        now = time.perf_counter()
        if self.stack:
            top = self.stack[-1]
            self.wall[top[0]] += now - top[1]
        self.stack.append([name, now])

    def pop(self) -> None:
        now = time.perf_counter()
        name, started = self.stack.pop()
        self.wall[name] += now - started
        if self.stack:
            self.stack[-1][1] = now

    @contextmanager
    def phase(self, name: str):
        if not self.enabled:
            yield
            return
        self.push(name)
        try:
            yield
        finally:
            self.pop()

    def current(self) -> str:
        return self.stack[-1][0] if self.stack else "other"

    def reset(self) -> None:
        self.wall.clear()
        self.sql_ms.clear()
        self.sql_n.clear()


PHASES = Phases()


def _wrap(owner, attr: str, name: str) -> None:
    original = getattr(owner, attr)

    def wrapper(*args, **kwargs):
        with PHASES.phase(name):
            return original(*args, **kwargs)

    wrapper.__wrapped__ = original
    setattr(owner, attr, wrapper)


def instrument() -> None:
    """Wrap the hot path's functions (module attributes, looked up at call time)."""
    from django.db import connection
    from rest_framework.renderers import JSONRenderer

    from loyalty.services import lots
    from processing import (
        calculate,
        confirm,
        fastpath,
        postings,
        refund,
        sale,
        tiers,
    )
    from processing.api import auth, throttles, views
    from promotions import engine

    pipeline = [calculate, confirm, fastpath, lots, postings, refund, sale, tiers]

    def wrap_everywhere(name: str, phase: str) -> None:
        """Wrap ``name`` in every pipeline module that calls it (each imported it by name)."""
        for module in pipeline:
            if callable(getattr(module, name, None)):
                _wrap(module, name, phase)

    _wrap(auth.TerminalKeyAuthentication, "authenticate", "auth")
    _wrap(throttles.TerminalRateThrottle, "allow_request", "throttle")
    _wrap(views.PosApi, "purchase_body", "parse+validate")
    _wrap(views.PosApi, "body", "parse+validate")
    _wrap(sale.PurchaseRequest, "fingerprint", "fingerprint")
    wrap_everywhere("load", "load: before the lock (replay, card, accounts, tiers, products, lots)")
    wrap_everywhere("sale_open", "load: sale checks, programme")
    wrap_everywhere("_open_accounts", "load: open accounts")
    wrap_everywhere("_lock", "load: lock accounts, replay, lots, tier (in confirm)")
    wrap_everywhere("spendable", "load: spendable, mature")
    wrap_everywhere("accounts_mature", "load: spendable, mature")
    wrap_everywhere("context_build", "load: context (lines, customer facts)")
    wrap_everywhere("_confirm", "confirm: the rest (receipt fields, earn specs)")
    wrap_everywhere("evaluate", "evaluate")
    _wrap(engine, "evaluate", "evaluate")
    wrap_everywhere("spend_posting", "write: spend legs")
    wrap_everywhere("tier_progress", "write: tier progress")
    wrap_everywhere("tier_step", "write: tier progress")
    _wrap(fastpath, "ids_take", "write: ids")
    rows = "write: rows (receipt, lines, postings, entries, lots, accounts, rewards, tier)"
    wrap_everywhere("_write_sql", rows)
    wrap_everywhere("_write_orm", rows)
    wrap_everywhere("counters_step", "write: counters, holds")
    wrap_everywhere("hold_release", "write: counters, holds")
    wrap_everywhere("render", "render: result")
    _wrap(JSONRenderer, "render", "render: JSON")

    original_commit = connection.commit

    def commit():
        with PHASES.phase("commit"):
            return original_commit()

    connection.commit = commit

    def timed(execute, sql, params, many, context):
        if not PHASES.enabled:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            name = PHASES.current()
            PHASES.sql_ms[name] += (time.perf_counter() - started) * 1000
            PHASES.sql_n[name] += 1

    connection.execute_wrappers.append(timed)


def _client():
    from django.test import Client

    return Client()


def _post(client, endpoint: str, key: str, payload: bytes):
    return client.post(
        f"/api/v1/purchases/{endpoint}",
        data=payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


def run_phases(endpoint: str, requests: int, bodies, client) -> dict:
    PHASES.reset()
    PHASES.enabled = True
    statuses = defaultdict(int)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(requests):
        key, payload = bodies.body()
        PHASES.push("other (Django/DRF dispatch, middleware, request/response)")
        response = _post(client, endpoint, key, payload)
        PHASES.pop()
        statuses[response.status_code] += 1
    wall = (time.perf_counter() - t0) * 1000 / requests
    cpu = (time.process_time() - cpu0) * 1000 / requests
    PHASES.enabled = False
    fine = {
        name: {
            "ms": round(PHASES.wall[name] * 1000 / requests, 3),
            "sql_ms": round(PHASES.sql_ms.get(name, 0.0) / requests, 3),
            "queries": round(PHASES.sql_n.get(name, 0) / requests, 2),
        }
        for name in sorted(PHASES.wall, key=lambda n: -PHASES.wall[n])
    }
    groups = {}
    for group, names in GROUPS.items():
        groups[group] = {
            "ms": round(sum(fine.get(n, {}).get("ms", 0) for n in names), 3),
            "sql_ms": round(sum(fine.get(n, {}).get("sql_ms", 0) for n in names), 3),
            "queries": round(sum(fine.get(n, {}).get("queries", 0) for n in names), 2),
        }
    other = "other (Django/DRF dispatch, middleware, request/response)"
    groups["other (Django/DRF dispatch, middleware, test client)"] = fine.get(
        other, {"ms": 0, "sql_ms": 0, "queries": 0}
    )
    return {
        "requests": requests,
        "statuses": dict(statuses),
        "wall_ms_per_request": round(wall, 3),
        "cpu_ms_per_request": round(cpu, 3),
        "sql_ms_per_request": round(sum(PHASES.sql_ms.values()) / requests, 3),
        "queries_per_request": round(sum(PHASES.sql_n.values()) / requests, 2),
        "groups": groups,
        "fine": fine,
    }


def run_cprofile(endpoint: str, requests: int, bodies, client, top: int = 30) -> str:
    profiler = cProfile.Profile()
    payloads = [bodies.body() for _ in range(requests)]
    profiler.enable()
    for key, payload in payloads:
        _post(client, endpoint, key, payload)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run_queries(endpoint: str, bodies, client) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # A purchase that spends and one that does not; both through the same view.
    found = {}
    for _ in range(200):
        key, payload = bodies.body()
        spends = b"spend_points" in payload
        label = "with spend_points" if spends else "earn only"
        if label in found:
            continue
        with CaptureQueriesContext(connection) as ctx:
            response = _post(client, endpoint, key, payload)
        body = json.loads(response.content)
        if spends and not (body.get("points_spent") not in (None, "0.00")):
            continue  # the card had nothing to spend: try another
        found[label] = {
            "status": response.status_code,
            "queries": len(ctx.captured_queries),
            "sql": [q["sql"][:300] for q in ctx.captured_queries],
        }
        if len(found) == 2:
            break
    return found


def profile(requests: int, keys_path: Path, seed: int = 7) -> dict:
    setup_django()
    from django.db import connection

    from bench.common import machine, read_keys
    from bench.load import Bodies

    keys = read_keys(keys_path)
    instrument()
    client = _client()
    bodies = Bodies(keys, seed)
    for endpoint in ("calculate", "confirm"):  # warm up: snapshot, connection, code paths
        for _ in range(30):
            key, payload = bodies.body()
            _post(client, endpoint, key, payload)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    report = {"machine": machine(version), "requests": requests, "endpoints": {}}
    for endpoint in ("calculate", "confirm"):
        report["endpoints"][endpoint] = {
            "phases": run_phases(endpoint, requests, bodies, client),
            "queries": run_queries(endpoint, bodies, client),
            "cprofile_top": run_cprofile(endpoint, max(100, requests // 2), bodies, client),
        }
    return report


def format_report(report: dict) -> str:
    lines = []
    for endpoint, data in report["endpoints"].items():
        ph = data["phases"]
        lines.append(
            f"\n{endpoint}: {ph['wall_ms_per_request']:.2f} ms wall, "
            f"{ph['cpu_ms_per_request']:.2f} ms CPU of this process, "
            f"{ph['queries_per_request']:.1f} queries taking {ph['sql_ms_per_request']:.2f} ms "
            f"(round trips, as the client sees them), statuses {ph['statuses']}"
        )
        lines.append(f"  {'phase':<72} {'ms':>7} {'of it SQL':>9} {'queries':>7}")
        for name, row in ph["groups"].items():
            lines.append(
                f"  {name:<72} {row['ms']:>7.2f} {row['sql_ms']:>9.2f} {row['queries']:>7}"
            )
        lines.append("  fine phases:")
        for name, row in ph["fine"].items():
            lines.append(
                f"    {name:<70} {row['ms']:>7.2f} {row['sql_ms']:>9.2f} {row['queries']:>7}"
            )
        for label, q in data["queries"].items():
            lines.append(f"  queries of one request ({label}): {q['queries']}")
    return "\n".join(lines)


def main() -> None:
    from bench.common import KEYS_FILE, RESULTS_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keys", type=Path, default=KEYS_FILE)
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    report = profile(args.requests, args.keys)
    print(format_report(report))
    out = args.out or RESULTS_DIR / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
