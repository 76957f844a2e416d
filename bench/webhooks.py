"""Commit → webhook receiver latency at 200 events/s sustained, nothing lost (SPEC §7).

A local receiver (a process of its own) notes when each tenant's event arrives; a dispatcher
and one worker run as real ``tenant-registry`` processes; this process registers tenants at a
steady 200 per second (one feed event each) and notes when each save returned.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import orjson
from psycopg import sql

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import Child, cli_command, cli_env, free_port
from bench.stats import percentile
from common.db import connect, table
from common.settings import Settings
from common.tables import WEBHOOK_DELIVERIES_TABLE
from webhooks.service import WebhookService

#: Events per second (SPEC §7: 200); ``BENCH_WEBHOOK_RATE`` overrides it to find where a
#: loaded machine's sustainable rate lies.
RATE = int(os.environ.get("BENCH_WEBHOOK_RATE", "200"))


def run(ctx: Context) -> None:
    """Register tenants at 200/s for a while; measure when each reaches the receiver."""
    # The projector runs beside the webhook processes, as in production, but not still busy
    # with an earlier scenario's writes (an import leaves a million events to project).
    ctx.services.caught_up()
    seconds = ctx.size(30, 5)
    port = free_port()
    out = ctx.workdir / "webhook-arrivals.json"
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver", str(port), str(out)],
        env=cli_env(ctx.settings),
    )
    settings = ctx.settings.model_copy(update={"webhooks_allow_private": True})
    app = TenantRegistry(settings)
    env = cli_env(settings, TENANT_REGISTRY_WEBHOOKS_ALLOW_PRIVATE="true")
    children: list[Child] = []
    try:
        _wait_port(port)
        with connect(settings) as conn:
            WebhookService(settings).create(
                conn,
                url=f"http://127.0.0.1:{port}/hook",
                event_types=["TenantRegistered"],
                description="bench",
                enabled=True,
                now=app.clock.now(),
                head=app.head(),
            )
        for name, argv in (("dispatch", ("webhooks", "dispatch")), ("worker", ("worker",))):
            children.append(Child(f"webhooks-{name}", cli_command(*argv), env, ctx.workdir))
        time.sleep(3)  # let both processes start before the clock runs
        committed, behind = _drive(app, seconds, secrets.token_hex(3))
        _wait_delivered(settings, len(committed))
    finally:
        for child in children:
            child.stop()
        app.close()
        os.kill(receiver.pid, signal.SIGTERM)
        receiver.wait(30)
    got: dict[str, Any] = orjson.loads(out.read_bytes())
    _report(ctx, committed, got, seconds, behind)


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)


def _wait_delivered(settings: Settings, count: int, timeout: float = 120) -> None:
    statement = sql.SQL("SELECT count(*) AS n FROM {} WHERE status = 'delivered'").format(
        table(settings, WEBHOOK_DELIVERIES_TABLE)
    )
    deadline = time.monotonic() + timeout
    with connect(settings) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(statement).fetchone()
            if row is not None and row["n"] >= count:
                return
            time.sleep(0.2)


def _drive(app: TenantRegistry, seconds: int, prefix: str) -> tuple[dict[str, float], float]:
    """Register ``RATE`` tenants a second, paced; {tenant id: time its save returned}, and
    how far behind the schedule the driver ended (seconds)."""
    committed: dict[str, float] = {}
    start = time.monotonic()
    for n in range(RATE * seconds):
        pause = start + n / RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        result = app.register(slug=f"wh-{prefix}-{n}", name=f"Hooked {n}", actor="bench")
        committed[str(result.tenant.id)] = time.time()
    return committed, max(0.0, time.monotonic() - start - seconds)


def _report(
    ctx: Context, committed: dict[str, float], got: dict[str, Any], seconds: int, behind: float
) -> None:
    arrivals: dict[str, float] = got["arrivals"]
    latencies = [(arrivals[t] - c) * 1000 for t, c in committed.items() if t in arrivals]
    lost = sum(1 for t in committed if t not in arrivals)
    repeats = int(got["requests"]) - len(arrivals)
    note = (
        f"{len(committed):,} events at {RATE}/s for {seconds} s (driver {behind:.1f} s behind "
        f"schedule), lost {lost}, repeats {repeats}; one dispatcher, one worker, local receiver"
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
