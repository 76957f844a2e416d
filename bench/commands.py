"""Register + lifecycle commands at the application layer, one thread (SPEC §7 row 1)."""

from __future__ import annotations

import secrets
import time

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.stats import percentile
from domain.lifecycle import Command

#: After each registration, the tenant walks this loop (every command changes it).
LIFECYCLE = (
    Command.ACTIVATE,
    Command.START_GRACE,
    Command.ACTIVATE,
    Command.PAUSE,
    Command.ACTIVATE,
    Command.CANCEL,
    Command.REACTIVATE,
)


def drive_commands(
    app: TenantRegistry, count: int, *, prefix: str, seconds: float = 3600
) -> list[float]:
    """Run ``count`` commands (register, then the lifecycle loop), or as many as fit in
    ``seconds``; return each one's duration."""
    latencies: list[float] = []
    tenant_id = None
    step = 0
    clock = time.perf_counter
    deadline = clock() + seconds
    for n in range(count):
        if clock() > deadline:
            break
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
        t0, cpu0 = time.perf_counter(), time.process_time()
        latencies = drive_commands(
            app, ctx.size(50_000, 2_000), prefix=prefix, seconds=ctx.size(20, 5)
        )
        count = len(latencies)
        wall = time.perf_counter() - t0
        cpu_us = (time.process_time() - cpu0) / count * 1e6
        rate = count / wall
    finally:
        app.close()
    ctx.add(
        Row(
            "register + lifecycle commands, application layer, 1 thread",
            rate,
            "commands/s",
            target=2_500,
            anchor="pgbench-1",
            note=f"p50 {percentile(latencies, 50) * 1000:.2f} ms; Python CPU {cpu_us:.0f} us of"
            f" {wall / count * 1e6:.0f} us per command (the rest waits on PostgreSQL)",
            extra={
                "cpu_us_per_command": cpu_us,
                "commands": count,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
            },
        )
    )
