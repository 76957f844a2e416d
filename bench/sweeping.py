"""Sweep of 100,000 due tenants (SPEC §7), in a process of its own so its memory is its own."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import cli_command, run_to_end
from bench.seeding import seed_tenants


def run(ctx: Context) -> None:
    """Seed trials that ended a week ago, let the projector see them, run ``sweep trials``."""
    count = ctx.size(100_000, 2_000)
    app = TenantRegistry(ctx.settings)
    try:
        with ctx.step(f"seeding {count:,} due trials"):
            seed_tenants(
                app,
                count,
                now=datetime.now(UTC) - timedelta(days=20),
                prefix=f"due-{secrets.token_hex(3)}",
                mix={"trial": 1.0},
                seed=11,
            )
    finally:
        app.close()
    with ctx.step("projector catching up with the due trials"):
        ctx.services.caught_up()
    finished = run_to_end("sweep", cli_command("sweep", "trials"), ctx.settings, ctx.workdir)
    seconds, sampler = finished.seconds, finished.memory
    report = finished.json_line('{"sweep"')
    ctx.add(
        Row(
            f"sweep of {count:,} due trials (tenant-registry sweep trials, from process start)",
            seconds,
            "s",
            target=60 if count >= 100_000 else None,
            better="lower",
            note=f"changed {report.get('changed')}, skipped {report.get('skipped')}, "
            f"failed {report.get('failed')}; {count / seconds:,.0f} tenants/s",
            extra=report,
        )
    )
    ctx.add(
        Row(
            "memory: peak RSS of the sweep process",
            sampler.peak_mib,
            "MiB",
            note=f"growth after the first tenth: {sampler.growth_mib():+.0f} MiB",
        )
    )
