#!/usr/bin/env python3
"""Find Python 3.12+, create .venv and install the locked dependencies into it.

Standard library only, and runnable by any Python 3.8+, because the interpreter that runs it
(the first ``python3`` on PATH) may be older than the one the project needs.

    python3 scripts/bootstrap.py            # prints the path of the venv's python when done
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
MIN_VERSION = (3, 12)
UV_VERSION = "0.13.9"
STAMP = VENV / ".bootstrap-stamp"


def say(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def interpreter_version(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = out.split(".")
    return int(major), int(minor)


def candidates() -> list[str]:
    found: list[str] = []
    explicit = os.environ.get("PYTHON")
    if explicit:
        found.append(explicit)
    for minor in range(20, MIN_VERSION[1] - 1, -1):
        path = shutil.which(f"python3.{minor}")
        if path:
            found.append(path)
    for name in ("python3", "python"):
        path = shutil.which(name)
        if path:
            found.append(path)
    home = Path.home()
    patterns = [
        str(home / ".pyenv/versions/3.*/bin/python3"),
        str(home / ".local/share/uv/python/cpython-3.*/bin/python3"),
        "/usr/local/bin/python3.*",
        "/usr/bin/python3.*",
        "/opt/homebrew/bin/python3.*",
    ]
    for pattern in patterns:
        found.extend(sorted(glob.glob(pattern), reverse=True))
    return found


def find_python() -> str:
    if sys.version_info[:2] >= MIN_VERSION:
        return sys.executable
    seen: set[str] = set()
    best: tuple[tuple[int, int], str] | None = None
    for path in candidates():
        real = os.path.realpath(path)
        if real in seen or not os.access(real, os.X_OK) or real.endswith("-config"):
            continue
        seen.add(real)
        version = interpreter_version(path)
        if version and version >= MIN_VERSION and (best is None or version < best[0]):
            # Prefer the oldest suitable version: it is the one CI and most users have.
            best = (version, path)
    if best is None:
        say("no Python 3.12 or newer was found (Django 6 needs it).")
        say("Install one, for example:")
        say("  Debian/Ubuntu: sudo apt-get install python3.12 python3.12-venv")
        say("  macOS:         brew install python@3.12")
        say("  any system:    pyenv install 3.12  (https://github.com/pyenv/pyenv)")
        say("or point PYTHON at it: make test PYTHON=/path/to/python3.12")
        sys.exit(2)
    say(f"using Python {best[0][0]}.{best[0][1]} at {best[1]}")
    return best[1]


def lock_digest() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "uv.lock"):
        digest.update((ROOT / name).read_bytes())
    digest.update(UV_VERSION.encode())
    return digest.hexdigest()


def run(cmd: list[str], **kwargs) -> None:
    env = {**os.environ, **kwargs.pop("env", {})}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, **kwargs)


def main() -> None:
    venv_python = VENV / "bin" / "python"
    if venv_python.exists() and STAMP.exists() and STAMP.read_text() == lock_digest():
        print(venv_python)
        return
    python = find_python()
    if venv_python.exists():
        version = interpreter_version(str(venv_python))
        if version is None or version < MIN_VERSION:
            say("the existing .venv is broken or too old; recreating it")
            shutil.rmtree(VENV)
    if not venv_python.exists():
        say("creating .venv")
        try:
            run([python, "-m", "venv", str(VENV)])
        except subprocess.CalledProcessError:
            shutil.rmtree(VENV, ignore_errors=True)
            say(
                f"{python} cannot create a virtual environment (its venv/ensurepip module is missing)."
            )
            say("On Debian/Ubuntu: sudo apt-get install python3.12-venv (match your version).")
            sys.exit(2)
    say(f"installing uv {UV_VERSION} into .venv")
    run([str(venv_python), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
    say("installing the locked dependencies (uv.lock)")
    run(
        [str(VENV / "bin" / "uv"), "sync", "--locked", "--inexact", "--python", str(venv_python)],
        env={"UV_PROJECT_ENVIRONMENT": str(VENV), "UV_PYTHON_DOWNLOADS": "never"},
    )
    STAMP.write_text(lock_digest())
    print(venv_python)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        say(f"failed: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}")
        sys.exit(exc.returncode or 1)
