"""Commit → webhook receiver latency at 200 events/s sustained, nothing lost (SPEC §7).

A local receiver (a threaded ``http.server`` in this process) notes when each event arrives;
a dispatcher and one worker run as real ``tenant-registry`` processes; this process registers
tenants at a steady 200 per second (one feed event each) and notes when each save returned.
"""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import Child, cli_command, cli_env, free_port
from bench.stats import percentile
from common.db import connect
from webhooks.service import WebhookService

RATE = 200


class _Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}
        self.requests = 0

    def note(self, body: bytes) -> None:
        now = time.time()
        tenant_id = str(orjson.loads(body)["data"]["tenant_id"])
        with self.lock:
            self.requests += 1
            self.at.setdefault(tenant_id, now)


def _receiver(arrivals: _Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrivals.note(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(ctx: Context) -> None:
    """Register tenants at 200/s for a while; measure when each reaches the receiver."""
    seconds = ctx.size(30, 5)
    arrivals = _Arrivals()
    server = _receiver(arrivals)
    settings = ctx.settings.model_copy(update={"webhooks_allow_private": True})
    app = TenantRegistry(settings)
    env = cli_env(settings, TENANT_REGISTRY_WEBHOOKS_ALLOW_PRIVATE="true")
    children: list[Child] = []
    try:
        with connect(settings) as conn:
            WebhookService(settings).create(
                conn,
                url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                event_types=["TenantRegistered"],
                description="bench",
                enabled=True,
                now=app.clock.now(),
                head=app.head(),
            )
        for name, argv in (("dispatch", ("webhooks", "dispatch")), ("worker", ("worker",))):
            children.append(Child(f"webhooks-{name}", cli_command(*argv), env, ctx.workdir))
        time.sleep(3)  # let both processes start before the clock runs
        committed = _drive(app, seconds, secrets.token_hex(3))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with arrivals.lock:
                if all(p in arrivals.at for p in committed):
                    break
            time.sleep(0.2)
    finally:
        for child in children:
            child.stop()
        server.shutdown()
        app.close()
    _report(ctx, committed, arrivals, seconds)


def _drive(app: TenantRegistry, seconds: int, prefix: str) -> dict[str, float]:
    """Register ``RATE`` tenants a second, paced; {tenant id: time its save returned}."""
    committed: dict[str, float] = {}
    start = time.monotonic()
    for n in range(RATE * seconds):
        pause = start + n / RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        result = app.register(slug=f"wh-{prefix}-{n}", name=f"Hooked {n}", actor="bench")
        committed[str(result.tenant.id)] = time.time()
    return committed


def _report(ctx: Context, committed: dict[str, float], arrivals: _Arrivals, seconds: int) -> None:
    with arrivals.lock:
        latencies = [
            (arrivals.at[p] - t) * 1000 for p, t in committed.items() if p in arrivals.at
        ]
        lost = sum(1 for p in committed if p not in arrivals.at)
        repeats = arrivals.requests - len(arrivals.at)
    note = (
        f"{len(committed):,} events in {seconds} s ({RATE}/s), lost {lost}, repeats {repeats}; "
        "one dispatcher, one worker, local receiver"
    )
    ctx.add(
        Row(
            "commit → webhook receiver p50",
            percentile(latencies, 50),
            "ms",
            better="lower",
            note=note,
        )
    )
    ctx.add(
        Row(
            "commit → webhook receiver p99",
            percentile(latencies, 99),
            "ms",
            target=1000,
            better="lower",
            note=note,
            extra={"lost": lost, "repeats": repeats, "max_ms": max(latencies, default=0.0)},
        )
    )
