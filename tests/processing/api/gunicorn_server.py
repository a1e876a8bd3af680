"""The project's real server for a test: gunicorn with ``config/gunicorn.conf.py``, one sync
worker, on a free loopback port, started and stopped by the test (by its own PID only)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from django.conf import settings
from django.db import connection

GUNICORN = Path(sys.executable).parent / "gunicorn"
CONFIG = "config/gunicorn.conf.py"
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BOOT_SECONDS = 90  # two cores shared with other test runs


class Gunicorn:
    def __init__(self, workdir: Path, database_url: str, **env: str):
        self.workdir = workdir
        self.database_url = database_url
        self.extra_env = env
        self.log_path = workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "CELERY_BROKER_URL")}
        env.update(
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.database_url,
            DJANGO_SETTINGS_MODULE="config.settings",
            LOG_LEVEL="WARNING",
            **self.extra_env,
        )
        return env

    def start(self) -> Gunicorn:
        command = [
            str(GUNICORN),
            "--config",
            CONFIG,
            "--workers",
            "1",
            "--bind",
            "127.0.0.1:0",  # the kernel picks a free port; the log says which
            "--no-control-socket",  # gunicorn's default socket path is shared by all its runs
            "--log-level",
            "info",
        ]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            if self.port is None and (found := LISTENING.search(self.log())):
                self.port = int(found.group(1))
            if self.port is not None and self._healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /health in {BOOT_SECONDS} s:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            status, _headers, _body = self.raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        except OSError:
            return False
        return status == 200

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def raw(self, request: bytes, *, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """Send bytes as they are; the status, headers (lower-case names) and body answered.

        The server closes the connection after the answer (``Connection: close`` is asked for
        by the callers, and gunicorn's own error answers always close)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return parse_response(b"".join(chunks))


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return int(status_line.split()[1]), headers, body


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2 :]


def chunked(body: bytes, size: int) -> bytes:
    """``body`` framed as ``Transfer-Encoding: chunked``, in chunks of ``size`` bytes."""
    framed = bytearray()
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        framed += b"%x\r\n%s\r\n" % (len(piece), piece)
    return bytes(framed + b"0\r\n\r\n")


def database_url_of_the_test(workdir: Path) -> str:
    """A ``DATABASE_URL`` through which gunicorn sees what the test committed.

    PostgreSQL: the test database itself. SQLite: the test database is in this process's
    memory, so it is copied to a file (the backup API) for gunicorn to open.
    """
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        user = urllib.parse.quote(db.get("USER") or "", safe="")
        password = urllib.parse.quote(db.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "127.0.0.1"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{db['NAME']}"
    path = workdir / "gunicorn.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    return f"sqlite:///{path}"
