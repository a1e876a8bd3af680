"""The promotion engine is a pure function: importing and running it loads no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import promotions.engine
import promotions.engine.evaluate
import promotions.engine.types
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"django", "rest_framework", "psycopg", "celery", "crm", "processing"}
    or name.startswith(("loyalty.models", "promotions.models", "promotions.rules"))
)
print(",".join(loaded))
"""


def test_the_engine_package_imports_no_django_and_no_models():
    # when the engine is imported in a fresh interpreter, without Django settings
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )
    # then nothing of Django, the database or the apps' models came with it
    assert done.stdout.strip() == ""


def test_no_module_of_the_engine_names_django():
    sources = sorted((ROOT / "promotions" / "engine").glob("*.py"))
    assert sources
    for source in sources:
        text = source.read_text()
        assert "import django" not in text, source.name
        assert "from django" not in text, source.name
