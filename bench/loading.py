"""Loading a tenant with 10,000 events (SPEC §7): snapshots every 100 versions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.stats import percentile
from domain.tenant import Tenant

#: The tenant has 10,000 events plus the most a load can replay after a snapshot.
EVENTS = 10_000


def build_busy_tenant(app: TenantRegistry, events: int) -> Tenant:
    """One tenant paused and re-activated until it has ``events`` events, saved 100 at a time
    (so snapshots land where commands would have put them)."""
    start = datetime.now(UTC) - timedelta(days=1)
    tenant = Tenant.register(
        slug=f"busy-{time.time_ns()}",
        name="Busy Ltd",
        timezone="Asia/Jerusalem",
        plan="pro",
        contact_email="ops@busy.example",
        metadata={"team": "bench"},
        trial_days=14,
        now=start,
        actor="bench",
    )
    interval = app.settings.snapshot_interval
    for n in range(1, events):
        at = start + timedelta(milliseconds=n)
        if n % 2:
            tenant.pause(now=at, actor="bench")
        else:
            tenant.activate(now=at, actor="bench")
        if tenant.version % interval == 0:
            app.save_batch([tenant])
    app.save_batch([tenant])
    return tenant


def run(ctx: Context) -> None:
    """p99 of ``get_tenant`` (snapshot + the events after it) on a fresh application."""
    writer = TenantRegistry(ctx.settings)
    try:
        interval = writer.settings.snapshot_interval
        tenant_id = build_busy_tenant(writer, EVENTS + interval - 1).id
    finally:
        writer.close()
    app = TenantRegistry(ctx.settings)
    try:
        for _ in range(20):
            app.get_tenant(tenant_id)
        timings = []
        for _ in range(ctx.size(500, 100)):
            t0 = time.perf_counter()
            tenant = app.get_tenant(tenant_id)
            timings.append(time.perf_counter() - t0)
    finally:
        app.close()
    ctx.add(
        Row(
            f"load a tenant with {tenant.version:,} events (snapshot + {interval - 1} events"
            " after it: the worst case), p99",
            percentile(timings, 99) * 1000,
            "ms",
            target=5,
            better="lower",
            note=f"p50 {percentile(timings, 50) * 1000:.2f} ms over {len(timings)} loads",
        )
    )
