"""Sweep of 100,000 due tenants (SPEC §7), in a process of its own so its memory is its own."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import Child, RssSampler, cli_command, cli_env
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
    child = Child("sweep", cli_command("sweep", "trials"), cli_env(ctx.settings), ctx.workdir)
    t0 = time.monotonic()
    with RssSampler(child) as sampler:
        code = child.popen.wait()
    seconds = time.monotonic() - t0
    child.stop()
    lines = child.log_path.read_text(errors="replace").splitlines()
    report = next((json.loads(x) for x in lines if x.startswith('{"sweep"')), None)
    if code != 0 or report is None:
        msg = f"sweep failed ({code}):\n{child.tail()}"
        raise RuntimeError(msg)
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
