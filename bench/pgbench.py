"""Run bench/pgbench_confirm.sql (the bare SQL of one confirm) with pgbench; report tps, p50/p99.

The script's ids (terminal and product ranges, currency, programme, promotion) are read from
the bench database and passed with ``-D``; latencies come from pgbench's per-transaction log.

    python -m bench.pgbench --dsn postgresql://postgres@127.0.0.1:5432/loyalty_bench -c 16 -T 30
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench.common import BENCH_DIR, machine, machine_line
from bench.load import percentile

SCRIPT = BENCH_DIR / "pgbench_confirm.sql"
TOTAL, EARNED = "1792.90", "35.86"  # the script's fixed 15 lines: total and 2 % of it


def variables(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """
            SELECT
              (SELECT MIN(t.id) FROM loyalty_terminal t WHERE t.code LIKE 'bench-%%'),
              (SELECT MAX(t.id) FROM loyalty_terminal t WHERE t.code LIKE 'bench-%%'),
              (SELECT MIN(id) FROM loyalty_product WHERE sku LIKE '469%%'),
              (SELECT MAX(id) FROM loyalty_product WHERE sku LIKE '469%%'),
              (SELECT id FROM loyalty_currency WHERE code = 'bench-points'),
              (SELECT id FROM loyalty_programme WHERE code = 'bench'),
              (SELECT MIN(p.id) FROM promotions_promotion p JOIN loyalty_programme g
                 ON g.id = p.programme_id WHERE g.code = 'bench'),
              (SELECT COUNT(*) FROM loyalty_card WHERE number LIKE '2900%%')
            """
        ).fetchone()
    names = [
        "terminal_min",
        "terminal_max",
        "product_min",
        "product_max",
        "currency",
        "programme",
        "promotion",
        "customers",
    ]
    found = dict(zip(names, row, strict=True))
    if any(value is None for value in found.values()):
        raise SystemExit(f"bench data missing in the database: {found}")
    # Terminal ids of the bench are one contiguous run (created in one go).
    return {**{k: str(v) for k, v in found.items()}, "total": TOTAL, "earned": EARNED}


def run(dsn: str, clients: int = 16, duration: int = 30, threads: int = 2) -> dict:
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise SystemExit("pgbench not found: apt-get install postgresql-client (or -contrib)")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    defs = variables(dsn)
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            pgbench,
            "-h",
            str(params.get("host", "127.0.0.1")),
            "-p",
            str(params.get("port", 5432)),
            "-U",
            str(params.get("user", "postgres")),
            "-n",
            "-M",
            "simple",
            "-f",
            str(SCRIPT),
            "-c",
            str(clients),
            "-j",
            str(min(threads, clients)),
            "-T",
            str(duration),
            "-l",
            "--log-prefix",
            f"{tmp}/pgbench_log",
        ]
        for name, value in defs.items():
            command += ["-D", f"{name}={value}"]
        command.append(str(params["dbname"]))
        env = None
        if params.get("password"):
            import os

            env = {**os.environ, "PGPASSWORD": str(params["password"])}
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
            env=env,
        )
        latencies = []
        for log in Path(tmp).glob("pgbench_log*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    latencies.append(int(parts[2]) / 1000)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"pgbench failed ({proc.returncode}):\n{out[-3000:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    latencies.sort()
    return {
        "clients": clients,
        "threads": min(threads, clients),
        "duration_s": duration,
        "tps": float(tps.group(1)) if tps else None,
        "transactions": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else 0,
        "p50_ms": _r(percentile(latencies, 50)),
        "p90_ms": _r(percentile(latencies, 90)),
        "p99_ms": _r(percentile(latencies, 99)),
        "max_ms": _r(latencies[-1] if latencies else None),
        "round_trips": 6,
        "output_tail": out.strip().splitlines()[-12:],
    }


def _r(value):
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/loyalty_bench")
    parser.add_argument("-c", "--clients", type=int, default=16)
    parser.add_argument("-T", "--duration", type=int, default=30)
    parser.add_argument("-j", "--threads", type=int, default=2)
    args = parser.parse_args()
    result = run(args.dsn, args.clients, args.duration, args.threads)
    with psycopg.connect(args.dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    print(f"machine: {machine_line(machine(version))}")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
