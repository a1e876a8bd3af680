"""Our engine against django-oscar's offer Applicator on the same baskets and offers.

1. creates ``bench/oscar_compare/.venv`` (git-ignored) from requirements.txt with a Python 3.12+
   on first use: Oscar is never a dependency of the project;
2. runs ``oscar_side.py`` there: Oscar's offers (Range, Count condition, Percentage benefit,
   ``exclusive=False``) and baskets on SQLite, timing ``Applicator().apply_offers``;
3. runs our engine here on the same scenarios (bench/engine.py), checks that every basket's
   total discount is the same, and prints both with the ratio.

    .venv/bin/python -m bench.oscar_compare.run                      # 5/30/200 x 10/100/1000
    .venv/bin/python -m bench.oscar_compare.run --lines 30 --promotions 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import RESULTS_DIR, machine, machine_line

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"


def oscar_python() -> Path:
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    base = sys.executable  # the project's venv runs Python 3.12+; Oscar's venv uses the same
    real = Path(os.path.realpath(base))
    print(f"creating {VENV} with {real} and installing django-oscar ...", flush=True)
    subprocess.run([str(real), "-m", "venv", str(VENV)], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
        check=True,
    )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", default="5,30,200")
    parser.add_argument("--promotions", default="10,100,1000")
    parser.add_argument("--baskets", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=10, help="our engine's rounds")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from bench.engine import run_ours

    print(f"machine: {machine_line(machine())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "oscar.json"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
        }
        env["OSCAR_BENCH_DB"] = str(Path(tmp) / "oscar.sqlite3")
        subprocess.run(  # noqa: S603
            [
                str(oscar_python()),
                str(HERE / "oscar_side.py"),
                "--lines",
                args.lines,
                "--promotions",
                args.promotions,
                "--baskets",
                str(args.baskets),
                "--budget",
                str(args.budget),
                "--out",
                str(out),
            ],
            check=True,
            env=env,
            cwd=HERE,
        )
        oscar = json.loads(out.read_text())
    rows = []
    print(
        f"\n{'lines':>5} {'promos':>6} {'ours µs':>9} {'oscar µs':>12} {'ratio':>8} "
        f"{'oscar queries':>13} {'same discounts':>14}"
    )
    for theirs in oscar["rows"]:
        ours = run_ours(theirs["promotions"], theirs["lines"], args.repeat)
        count = len(theirs["discounts"])
        same = ours["discounts"][:count] == theirs["discounts"]
        ratio = theirs["median_us"] / ours["median_us"]
        rows.append({"ours": ours, "oscar": theirs, "ratio": round(ratio, 1), "same": same})
        print(
            f"{theirs['lines']:>5} {theirs['promotions']:>6} {ours['median_us']:>9} "
            f"{theirs['median_us']:>12} {ratio:>7.0f}x {theirs['queries_per_basket']:>13} "
            f"{str(same):>14}"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "oscar-compare.json"
    path.write_text(
        json.dumps({"machine": machine(), "oscar_django": oscar["django"], "rows": rows}, indent=1)
    )
    print(f"written: {path}")
    if not all(row["same"] for row in rows):
        raise SystemExit("the discounts differ: the comparison is not like for like")


if __name__ == "__main__":
    main()
