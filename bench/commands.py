"""Register + lifecycle commands at the application layer, one thread (SPEC §7 row 1)."""

from __future__ import annotations

import secrets
import time

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.stats import percentile

#: After each registration, the tenant walks this loop (every command changes it).
LIFECYCLE = ("activate", "start-grace", "activate", "pause", "activate", "cancel", "reactivate")


def drive_commands(app: TenantRegistry, count: int, *, prefix: str) -> list[float]:
    """Run ``count`` commands (register, then the lifecycle loop); return each one's seconds."""
    latencies: list[float] = []
    tenant_id = None
    step = 0
    clock = time.perf_counter
    for n in range(count):
        t0 = clock()
        if tenant_id is None or step == len(LIFECYCLE):
            tenant_id = app.register(
                slug=f"{prefix}-{n}", name=f"Bench {n}", actor="bench"
            ).tenant.id
            step = 0
        else:
            app.run(LIFECYCLE[step], tenant_id, actor="bench")
            step += 1
        latencies.append(clock() - t0)
    return latencies


def run(ctx: Context) -> None:
    """Commands/s of one thread through ``TenantRegistry`` (no HTTP)."""
    app = TenantRegistry(ctx.settings)
    try:
        prefix = f"cmd-{secrets.token_hex(3)}"
        drive_commands(app, 400, prefix=f"{prefix}-warm")  # connections, prepared statements
        count = ctx.size(20_000, 2_000)
        t0 = time.perf_counter()
        latencies = drive_commands(app, count, prefix=prefix)
        rate = count / (time.perf_counter() - t0)
    finally:
        app.close()
    ctx.add(
        Row(
            "register + lifecycle commands, application layer, 1 thread",
            rate,
            "commands/s",
            target=2_500,
            anchor="pgbench-1",
            extra={
                "commands": count,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
            },
        )
    )
