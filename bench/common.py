"""Helpers shared by the data generator, the load generator and the runner (no Django here)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
KEYS_FILE = BENCH_DIR / ".keys.json"
RESULTS_DIR = BENCH_DIR / "results"
CARD_PREFIX = "2900"


def ean13_check_digit(payload: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(payload))
    return str((10 - total % 10) % 10)


def card_number(index: int) -> str:
    """The number of the bench card of customer ``index`` (0-based): 13 digits, EAN-13."""
    payload = f"{CARD_PREFIX}{index:08d}"
    return payload + ean13_check_digit(payload)


def read_keys(path: Path = KEYS_FILE) -> dict:
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `manage.py bench_data` first.")
    return json.loads(path.read_text())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(re.findall(r"\d+", line)[0]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine(pg_version: str | None = None) -> dict:
    """What the figures were measured on."""
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
    }
    try:
        virt = subprocess.run(
            ["systemd-detect-virt"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        if virt:
            info["virtualisation"] = virt
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_line(info: dict) -> str:
    database = f"PostgreSQL {info['postgresql']}, " if info.get("postgresql") else ""
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
        f"{database}Python {info['python']}, kernel {info['kernel']}"
    )
