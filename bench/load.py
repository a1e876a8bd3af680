"""Load generator for the POS API: open-loop (fixed arrival schedule) and closed-loop modes.

A minimal asyncio HTTP/1.1 client (keep-alive when the server allows it; gunicorn's sync
workers close after every response, so a new connection is then opened per request, which
costs ~0.1 ms on loopback). No third-party dependency.

- **Open loop** (``--rate``): request *i* is due at ``t0 + i / rate`` whatever happened to the
  earlier ones; its latency is measured from that scheduled time, so a stalled server shows
  up in the percentiles instead of silently slowing the generator (no coordinated omission).
  ``send lag`` reports how late the generator itself was in sending (it shares the CPU).
- **Closed loop** (``--connections N``): N clients, each sends its next request as soon as the
  previous one is answered; throughput is completed requests per second.

Bodies are 15-line receipts of SKUs the bench catalogue holds, for random cards of the bench
customers (bench/.keys.json), from random terminals; 20 % ask to spend points (half ``"max"``,
half ``"50.00"``); each confirm has a unique ``receipt_id``.

    python -m bench.load --endpoint calculate --rate 100 --duration 30
    python -m bench.load --endpoint confirm --connections 16 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import KEYS_FILE, card_number, machine, machine_line, read_keys

PRICES = ["89.90", "45.50", "320.00", "15.90", "59.00", "129.00", "80.00", "249.90", "34.90"]
PRICES += ["99.00", "12.50", "199.00", "150.00", "64.90", "82.50", "1290.00", "7.40"]
QUANTITIES = ["1", "2", "1", "0.750", "3", "1", "1.250", "1", "2", "4", "0.350", "1"]
LINES = 15
TIMEOUT = 10.0


# --- Requests ---------------------------------------------------------------------------------


class Bodies:
    """Request bodies and headers for the bench database."""

    def __init__(self, keys: dict, seed: int | None = None):
        self.rng = random.Random(seed)
        self.terminals = [(t["terminal"], t["key"]) for t in keys["terminals"]]
        self.skus = keys["skus"]
        self.customers = keys["customers"]
        self.nonce = f"{int(time.time()):x}{os.getpid() % 4096:03x}"
        self.counter = 0

    def body(self) -> tuple[str, bytes]:
        """(API key, JSON body) of the next receipt."""
        rng = self.rng
        self.counter += 1
        _code, key = rng.choice(self.terminals)
        body = {
            "receipt_id": f"b{self.nonce}-{self.counter}",
            "card": card_number(rng.randrange(self.customers)),
            "lines": [
                {
                    "line": n,
                    "sku": sku,
                    "quantity": rng.choice(QUANTITIES),
                    "price": rng.choice(PRICES),
                }
                for n, sku in enumerate(rng.sample(self.skus, LINES), start=1)
            ],
        }
        draw = rng.random()
        if draw < 0.1:
            body["spend_points"] = "max"
        elif draw < 0.2:
            body["spend_points"] = "50.00"
        return key, json.dumps(body, separators=(",", ":")).encode()

    def request(self, endpoint: str, host: str) -> bytes:
        key, payload = self.body()
        head = (
            f"POST /api/v1/purchases/{endpoint} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            f"Authorization: Api-Key {key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bool, bytes]:
        """Send one request; return (status, connection still usable, body)."""
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before the status line")
        parts = status_line.split(None, 2)
        status = int(parts[1])
        keep = parts[0] == b"HTTP/1.1"
        length, chunked = None, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection":
                keep = value != b"close"
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readline()).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                body += await self.reader.readexactly(size + 2)
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read()
            keep = False
        return status, keep, body

    def close(self) -> None:
        self.writer.close()


class Pool:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.opened = 0

    async def call(self, request: bytes) -> tuple[int, bytes]:
        conn = self.idle.pop() if self.idle else None
        if conn is None:
            conn = await Connection.open(self.host, self.port)
            self.opened += 1
        try:
            status, keep, body = await conn.exchange(request)
        except BaseException:
            conn.close()
            raise
        if keep:
            self.idle.append(conn)
        else:
            conn.close()
        return status, body

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# --- Results ----------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


@dataclass
class Result:
    endpoint: str
    mode: str  # "open" or "closed"
    duration: float
    target_rate: float | None = None
    connections: int | None = None
    latencies_ms: list[float] = field(default_factory=list)  # successful requests only
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # exceptions and non-200 statuses
    samples: dict[str, str] = field(default_factory=dict)
    send_lag_ms: list[float] = field(default_factory=list)
    sent: int = 0
    elapsed: float = 0.0
    send_elapsed: float = 0.0
    connections_opened: int = 0

    def summary(self) -> dict:
        ordered = sorted(self.latencies_ms)
        lag = sorted(self.send_lag_ms)
        done = sum(self.statuses.values())
        ok = self.statuses.get(200, 0)
        out = {
            "endpoint": self.endpoint,
            "mode": self.mode,
            "target_rate": self.target_rate,
            "connections": self.connections,
            "duration_s": round(self.elapsed, 2),
            "sent": self.sent,
            "completed": done,
            "ok": ok,
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
            "rps": round(ok / self.elapsed, 1) if self.elapsed else 0.0,
            "achieved_send_rate": round(self.sent / (self.send_elapsed or self.elapsed), 1)
            if self.elapsed
            else 0.0,
            "p50_ms": _r(percentile(ordered, 50)),
            "p90_ms": _r(percentile(ordered, 90)),
            "p99_ms": _r(percentile(ordered, 99)),
            "max_ms": _r(ordered[-1] if ordered else None),
            "mean_ms": _r(sum(ordered) / len(ordered) if ordered else None),
            "connections_opened": self.connections_opened,
        }
        if self.mode == "open":
            out["send_lag_p99_ms"] = _r(percentile(lag, 99))
            out["send_lag_max_ms"] = _r(lag[-1] if lag else None)
        if self.samples:
            out["error_samples"] = self.samples
        return out

    def record(self, started: float, status: int | None, error: str | None, body: bytes) -> None:
        now = time.perf_counter()
        if status is not None:
            self.statuses[status] += 1
        if status == 200:
            self.latencies_ms.append((now - started) * 1000)
            return
        kind = error or f"HTTP {status}"
        self.errors[kind] += 1
        if kind not in self.samples:
            self.samples[kind] = body[:300].decode(errors="replace")


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- Modes ------------------------------------------------------------------------------------


async def _one(pool: Pool, request: bytes, result: Result, started: float, sem) -> None:
    async with sem:
        try:
            status, body = await asyncio.wait_for(pool.call(request), TIMEOUT)
        except TimeoutError:
            result.record(started, None, "timeout", b"")
            return
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            result.record(started, None, type(exc).__name__, str(exc).encode())
            return
    result.record(started, status, None, body)


async def open_loop(
    url: str,
    endpoint: str,
    rate: float,
    duration: float,
    keys: dict,
    max_in_flight: int = 512,
    seed: int | None = None,
) -> Result:
    """Send ``rate`` requests a second on a fixed schedule for ``duration`` seconds."""
    host, port = _host_port(url)
    bodies = Bodies(keys, seed)
    pool = Pool(host, port)
    result = Result(endpoint=endpoint, mode="open", duration=duration, target_rate=rate)
    sem = asyncio.Semaphore(max_in_flight)
    total = int(rate * duration)
    # Bodies are built ahead so that building them never delays a send.
    requests = [bodies.request(endpoint, f"{host}:{port}") for _ in range(total)]
    tasks = []
    t0 = time.perf_counter() + 0.05
    for i, request in enumerate(requests):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        result.send_lag_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
        tasks.append(asyncio.create_task(_one(pool, request, result, due, sem)))
        result.sent += 1
    result.send_elapsed = time.perf_counter() - t0
    await asyncio.gather(*tasks)
    # Until the last answer: a server that falls behind stretches this past ``duration``.
    result.elapsed = max(duration, time.perf_counter() - t0)
    result.connections_opened = pool.opened
    pool.close()
    return result


async def closed_loop(
    url: str,
    endpoint: str,
    connections: int,
    duration: float,
    keys: dict,
    seed: int | None = None,
) -> Result:
    """``connections`` clients, each sending its next request when the last is answered."""
    host, port = _host_port(url)
    bodies = Bodies(keys, seed)
    result = Result(endpoint=endpoint, mode="closed", duration=duration, connections=connections)
    pools = [Pool(host, port) for _ in range(connections)]
    sem = asyncio.Semaphore(connections)
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def client(pool: Pool) -> None:
        while time.perf_counter() < deadline:
            request = bodies.request(endpoint, f"{host}:{port}")
            result.sent += 1
            await _one(pool, request, result, time.perf_counter(), sem)

    await asyncio.gather(*(client(pool) for pool in pools))
    result.elapsed = time.perf_counter() - t0
    result.connections_opened = sum(pool.opened for pool in pools)
    for pool in pools:
        pool.close()
    return result


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.partition(":")
    return host, int(port or 80)


def format_row(s: dict) -> str:
    what = (
        f"{s['target_rate']:>5.0f} rps open"
        if s["mode"] == "open"
        else f"{s['connections']:>3} conns closed"
    )
    return (
        f"{s['endpoint']:<9} {what:<16} ok/s {s['rps']:>7.1f}  p50 {s['p50_ms'] or 0:>7.1f}  "
        f"p90 {s['p90_ms'] or 0:>7.1f}  p99 {s['p99_ms'] or 0:>7.1f}  max {s['max_ms'] or 0:>7.1f}"
        f" ms  errors {s['errors']} {s['errors_by_kind'] or ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--endpoint", choices=["calculate", "confirm"], default="calculate")
    parser.add_argument("--rate", type=float, help="open loop: requests per second")
    parser.add_argument("--connections", type=int, help="closed loop: concurrent clients")
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--keys", type=Path, default=KEYS_FILE)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    keys = read_keys(args.keys)
    if args.rate:
        result = asyncio.run(open_loop(args.url, args.endpoint, args.rate, args.duration, keys))
    else:
        conns = args.connections or 1
        result = asyncio.run(closed_loop(args.url, args.endpoint, conns, args.duration, keys))
    summary = result.summary()
    print(f"machine: {machine_line(machine())}")
    print(json.dumps(summary, indent=1) if args.json else format_row(summary))


if __name__ == "__main__":
    main()
