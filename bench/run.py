"""The whole benchmark in one run: gunicorn + load phases + pgbench + in-process profile.

1. start gunicorn on 127.0.0.1 (sync workers, DEBUG off, persistent DB connections) against
   the bench database and wait for ``/health``;
2. warm up every worker;
3. ``calculate`` open loop at 100 requests a second;
4. a ramp of open-loop rates to find the highest sustainable ``calculate`` rate
   (p99 < 30 ms, no errors, everything answered within the step);
5. ``confirm`` closed loop at 1, 4 and 16 connections;
6. pgbench of the bare SQL of one confirm (bench/pgbench_confirm.sql) at 16 clients;
7. stop gunicorn; profile both endpoints in-process (bench/profile.py);
8. print the table and the machine; write bench/results/<timestamp>.json.

    .venv/bin/python -m bench.run                     # full run, ~8 minutes
    .venv/bin/python -m bench.run --quick             # smoke run, ~2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

from bench import load
from bench import pgbench as pgb
from bench.common import BENCH_DIR, KEYS_FILE, RESULTS_DIR, machine, machine_line, read_keys

ROOT = BENCH_DIR.parent
CALC_P99_TARGET_MS = 30.0
CONFIRM_P99_TARGET_MS = 150.0
CONFIRM_RATIO_TARGET = 0.20


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Server:
    """gunicorn on 127.0.0.1, started and stopped by this process (by its PID only)."""

    def __init__(self, dsn: str, port: int, workers: int, worker_class: str, threads: int):
        self.dsn, self.port = dsn, port
        self.workers, self.worker_class, self.threads = workers, worker_class, threads
        self.proc: subprocess.Popen | None = None
        self.log_path = RESULTS_DIR / "gunicorn.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "CELERY_BROKER_URL")}
        env.update(
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            DATABASE_URL=self.dsn,
            DB_CONN_MAX_AGE="600",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        return env

    def command(self) -> list[str]:
        cmd = [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            self.worker_class,
            "--workers",
            str(self.workers),
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]
        if self.worker_class == "gthread":
            cmd += ["--threads", str(self.threads)]
        return cmd

    def start(self) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603
            self.command(),
            cwd=ROOT,
            env=self.env(),
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /health within 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_since(mark: tuple[int, int]) -> float:
    busy, total = cpu_times()
    return round(100 * (busy - mark[0]) / max(1, total - mark[1]), 1)


def wait_for_quiet(limit_s: float = 120, threshold: float = 15.0) -> float:
    """Wait (up to ``limit_s``) until the machine is nearly idle; return the last busy %."""
    deadline = time.monotonic() + limit_s
    while True:
        mark = cpu_times()
        time.sleep(3)
        busy = busy_since(mark)
        if busy < threshold or time.monotonic() > deadline:
            if busy >= threshold:
                top = subprocess.run(
                    ["ps", "-eo", "pid,pcpu,etime,comm", "--sort=-pcpu"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.splitlines()[:6]
                log(f"the machine is {busy} % busy before the run (other work): {top}")
            return busy
        log(f"waiting for the machine to be quiet ({busy} % busy)")


def phase(fn, *args):
    """Run one load phase and note how busy the whole machine was meanwhile."""
    mark = cpu_times()
    summary = asyncio.run(fn(*args)).summary()
    summary["machine_cpu_busy_pct"] = busy_since(mark)
    return summary


def checkpoint(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


UPDATED_TABLES = ["loyalty_account", "loyalty_lot", "loyalty_tiermembership", "loyalty_card"]


def vacuum(dsn: str) -> None:
    """VACUUM ANALYZE the tables confirms update: earlier runs leave dead rows behind, and
    autovacuum is off on this machine's server (a production server keeps it on)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in UPDATED_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")


HOT_TABLES = [
    "crm_customer",
    "loyalty_card",
    "loyalty_account",
    "loyalty_tiermembership",
    "loyalty_lot",
    "loyalty_receipt",
    "loyalty_receiptline",
    "loyalty_receiptlinereward",
    "loyalty_posting",
    "loyalty_ledgerentry",
    "loyalty_product",
    "loyalty_terminalapikey",
]


def prewarm(dsn: str) -> float:
    """Read the hot tables and all their indexes into the OS page cache (pg_prewarm).

    The bench database (~6 GB) fits this machine's RAM many times over, as a production
    database of this size would fit its server's; without this the first minutes of a run
    measure disk reads of a cold cache instead of the service.
    """
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for table in HOT_TABLES:
            conn.execute(
                """
                SELECT pg_prewarm(c.oid, 'read') FROM pg_class c
                WHERE c.oid = %s::regclass
                   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)
                """,
                [table, table],
            )
    return time.monotonic() - started


def pg_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def keeps_up(summary: dict) -> bool:
    """The server answered everything, without errors, at the offered rate (p99 < 1 s)."""
    return (
        summary["errors"] == 0
        and summary["p99_ms"] is not None
        and summary["p99_ms"] < 1000
        and summary["rps"] >= 0.97 * summary["target_rate"]
    )


def sustainable(summary: dict) -> bool:
    """Keeps up, and within the latency target (p99 < 30 ms)."""
    return keeps_up(summary) and summary["p99_ms"] < CALC_P99_TARGET_MS


def ramp(url: str, keys: dict, rates: list[float], step: float) -> tuple[list[dict], dict]:
    """Offer rising open-loop rates until the server no longer keeps up; return the steps and
    the highest rate meeting the p99 target and the highest rate kept up with at all."""
    rows: list[dict] = []
    best = {"p99_under_30ms": None, "keeps_up": None}
    for rate in rates:
        summary = phase(load.open_loop, url, "calculate", rate, step, keys)
        rows.append(summary)
        log(load.format_row(summary))
        time.sleep(2)
        if sustainable(summary):
            best["p99_under_30ms"] = rate
        if not keeps_up(summary):
            break
        best["keeps_up"] = rate
    return rows, best


def run(args) -> dict:
    keys = read_keys(args.keys)
    started = time.monotonic()
    info = machine(pg_version(args.dsn))
    log(f"machine: {machine_line(info)}")
    server = Server(args.dsn, args.port, args.workers, args.worker_class, args.threads)
    result: dict = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "server": {
            "worker_class": args.worker_class,
            "workers": args.workers,
            "threads": args.threads if args.worker_class == "gthread" else 1,
            "command": " ".join(server.command()),
        },
        "database": {"dsn": args.dsn.rsplit("@", 1)[-1], **database_size(args.dsn)},
        "durations": {
            "calculate_s": args.calc_duration,
            "ramp_step_s": args.ramp_step,
            "confirm_s": args.confirm_duration,
            "pgbench_s": args.pgbench_duration,
        },
    }
    log(f"database: {result['database']}")
    if args.prewarm:
        result["prewarm_s"] = round(prewarm(args.dsn), 1)
        log(f"pg_prewarm of the hot tables and indexes: {result['prewarm_s']} s")
    vacuum(args.dsn)
    result["cpu_busy_before_pct"] = wait_for_quiet()
    server.start()
    log(f"gunicorn {args.worker_class} x{args.workers} on {server.url}")
    try:
        for endpoint in ("calculate", "confirm"):
            asyncio.run(load.closed_loop(server.url, endpoint, 4, args.warmup, keys))
        log("warmed up")
        checkpoint(args.dsn)
        calc = phase(load.open_loop, server.url, "calculate", 100, args.calc_duration, keys)
        log(load.format_row(calc))
        result["calculate_100rps"] = calc
        time.sleep(2)
        rows, best = ramp(server.url, keys, args.ramp, args.ramp_step)
        result["calculate_ramp"] = rows
        result["calculate_max_sustainable_rps"] = best["p99_under_30ms"]
        result["calculate_max_kept_up_rps"] = best["keeps_up"]
        log(
            f"highest calculate rate with p99 < 30 ms: {best['p99_under_30ms']} rps; "
            f"highest rate kept up with (no errors, p99 < 1 s): {best['keeps_up']} rps"
        )
        result["confirm"] = []
        for conns in args.confirm_connections:
            checkpoint(args.dsn)
            summary = phase(
                load.closed_loop, server.url, "confirm", conns, args.confirm_duration, keys
            )
            result["confirm"].append(summary)
            log(load.format_row(summary))
            time.sleep(2)
    finally:
        server.stop()
        log("gunicorn stopped")
    checkpoint(args.dsn)
    mark = cpu_times()
    bare = pgb.run(args.dsn, args.pgbench_clients, args.pgbench_duration)
    bare["machine_cpu_busy_pct"] = busy_since(mark)
    result["pgbench"] = bare
    log(
        f"pgbench confirm SQL, {bare['clients']} clients: {bare['tps']:.1f} tps, "
        f"p50 {bare['p50_ms']} ms, p99 {bare['p99_ms']} ms, failed {bare['failed']}"
    )
    if not args.skip_profile:
        log("profiling in-process ...")
        out = RESULTS_DIR / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.json"
        env = {**os.environ, "DATABASE_URL": args.dsn}
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "bench.profile",
                "--requests",
                str(args.profile_requests),
                "--keys",
                str(args.keys),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        result["profile"] = json.loads(out.read_text())
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    result["verdict"] = verdict(result)
    return result


def database_size(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """
            SELECT pg_size_pretty(pg_database_size(current_database())),
              (SELECT reltuples::bigint FROM pg_class WHERE relname = 'crm_customer'),
              (SELECT reltuples::bigint FROM pg_class WHERE relname = 'loyalty_ledgerentry'),
              (SELECT reltuples::bigint FROM pg_class WHERE relname = 'loyalty_receipt')
            """
        ).fetchone()
    return {
        "size": row[0],
        "customers_est": row[1],
        "ledger_entries_est": row[2],
        "receipts_est": row[3],
    }


def verdict(result: dict) -> dict:
    calc = result["calculate_100rps"]
    sixteen = next((c for c in result["confirm"] if c["connections"] == 16), None)
    tps = result["pgbench"]["tps"] or 0
    out = {
        "calculate_p99_at_100rps_ms": calc["p99_ms"],
        "calculate_p99_target_met": calc["errors"] == 0
        and calc["p99_ms"] is not None
        and calc["p99_ms"] < CALC_P99_TARGET_MS,
        "calculate_max_sustainable_rps": result["calculate_max_sustainable_rps"],
        "calculate_max_kept_up_rps": result.get("calculate_max_kept_up_rps"),
    }
    if sixteen:
        ratio = sixteen["rps"] / tps if tps else None
        out.update(
            confirm16_rps=sixteen["rps"],
            pgbench_tps=tps,
            confirm16_over_pgbench=round(ratio, 3) if ratio is not None else None,
            confirm_ratio_target_met=ratio is not None and ratio >= CONFIRM_RATIO_TARGET,
            confirm16_p99_ms=sixteen["p99_ms"],
            confirm_p99_target_met=sixteen["errors"] == 0
            and sixteen["p99_ms"] is not None
            and sixteen["p99_ms"] < CONFIRM_P99_TARGET_MS,
        )
    return out


def table(result: dict) -> str:
    m = result["machine"]
    lines = [
        "",
        f"machine: {machine_line(m)}",
        f"server: gunicorn {result['server']['worker_class']} x{result['server']['workers']}, "
        f"database {result['database']}",
        "",
        f"{'benchmark':<44} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>6} {'CPU %':>6}",
    ]

    def row(label, s, rate_key="rps"):
        lines.append(
            f"{label:<44} {s[rate_key] or 0:>8.1f} {s['p50_ms'] or 0:>8.1f} "
            f"{s['p90_ms'] or 0:>8.1f} {s['p99_ms'] or 0:>8.1f} {s['max_ms'] or 0:>8.1f} "
            f"{s.get('errors', s.get('failed', 0)):>6} {s.get('machine_cpu_busy_pct', 0):>6.0f}"
        )

    row("calculate, open loop 100 rps", result["calculate_100rps"])
    for s in result["calculate_ramp"]:
        row(f"calculate, open loop {s['target_rate']:.0f} rps (ramp)", s)
    for s in result["confirm"]:
        row(f"confirm, closed loop {s['connections']} conns", s)
    bare = result["pgbench"]
    row(f"pgbench confirm SQL, {bare['clients']} clients (tps)", bare, "tps")
    v = result["verdict"]
    lines += [
        "",
        f"calculate max sustainable rate (p99 < 30 ms, no errors): "
        f"{v['calculate_max_sustainable_rps']} rps; highest rate kept up with (no errors, "
        f"p99 < 1 s): {v.get('calculate_max_kept_up_rps')} rps",
    ]
    if "confirm16_over_pgbench" in v:
        lines.append(
            f"confirm @16 / pgbench @16: {v['confirm16_rps']:.1f} / {v['pgbench_tps']:.1f} = "
            f"{(v['confirm16_over_pgbench'] or 0) * 100:.1f} %"
        )
    lines += [
        f"target calculate p99 < 30 ms @100 rps: {'MET' if v['calculate_p99_target_met'] else 'NOT MET'}"
        f" ({v['calculate_p99_at_100rps_ms']} ms)",
    ]
    if "confirm_ratio_target_met" in v:
        lines += [
            f"target confirm @16 >= 20 % of pgbench: "
            f"{'MET' if v['confirm_ratio_target_met'] else 'NOT MET'}",
            f"target confirm @16 p99 < 150 ms: "
            f"{'MET' if v['confirm_p99_target_met'] else 'NOT MET'} ({v['confirm16_p99_ms']} ms)",
        ]
    if "profile" in result:
        from bench.profile import format_report

        lines.append(format_report(result["profile"]))
    lines.append(f"\nthe run took {result['elapsed_s']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/loyalty_bench"
        ),
    )
    parser.add_argument("--keys", type=Path, default=KEYS_FILE)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="gthread only")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--calc-duration", type=float, default=60)
    parser.add_argument("--ramp-step", type=float, default=15)
    parser.add_argument(
        "--ramp",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[25, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600],
    )
    parser.add_argument("--confirm-duration", type=float, default=30)
    parser.add_argument(
        "--confirm-connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 4, 16],
    )
    parser.add_argument("--pgbench-clients", type=int, default=16)
    parser.add_argument("--pgbench-duration", type=int, default=30)
    parser.add_argument("--profile-requests", type=int, default=300)
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="pg_prewarm the hot tables first (useless where the OS keeps no large page cache)",
    )
    parser.add_argument("--quick", action="store_true", help="short phases: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.calc_duration, args.ramp_step = 2, 10, 5
        args.confirm_duration, args.pgbench_duration, args.profile_requests = 8, 8, 60
    result = run(args)
    print(table(result))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
