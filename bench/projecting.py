"""Read-side scenarios: catch-up and rebuild rate and memory, lag under load (SPEC §7)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg
from psycopg import sql

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import RssSampler, cli_command, run_to_end
from bench.services import analyze, head, projected
from bench.stats import percentile
from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.lifecycle import Command
from domain.tenant import TENANT_TOPICS
from projections.batch import projected_channel

_REBUILT = re.compile(r"rebuilt tenants .*: (\d+) events .* in ([0-9.]+) s")


def tenant_events(settings: Settings, after: int, upto: int) -> int:
    """How many tenant events (slug claims left out) lie in positions (after, upto]."""
    events = sql.Identifier(settings.db_schema, EVENTS_TABLE)
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE notification_id > %s AND notification_id <= %s"
                " AND topic = ANY(%s)"
            ).format(events),
            (after, upto, list(TENANT_TOPICS.values())),
        ).fetchone()
    return int(row[0]) if row else 0


def _memory_row(ctx: Context, what: str, sampler: RssSampler) -> None:
    ctx.add(
        Row(
            f"memory: peak RSS of {what}",
            sampler.peak_mib,
            "MiB",
            note=f"growth after the first tenth of the run: {sampler.growth_mib():+.0f} MiB",
            extra={"samples": len(sampler.samples)},
        )
    )


def run_catch_up(ctx: Context) -> None:
    """A fresh projector works through the whole seeded store (events/s, RSS)."""
    services = ctx.services
    start, target = projected(ctx.settings), head(ctx.settings)
    count = tenant_events(ctx.settings, start, target)
    ctx.say(f"catch-up: {count:,} tenant events ({target - start:,} positions) to project")
    t0 = time.monotonic()
    child = services.start_projector()
    with RssSampler(child) as sampler:
        last_report = t0
        while (position := projected(ctx.settings)) < target:
            if not child.alive():
                msg = f"projector exited:\n{child.tail()}"
                raise RuntimeError(msg)
            if time.monotonic() - last_report > 10:
                ctx.say(f"  catch-up at {position:,} / {target:,}")
                last_report = time.monotonic()
            time.sleep(0.1)
    seconds = time.monotonic() - t0
    rate = count / seconds
    ctx.anchors["catch-up"] = rate
    ctx.add(
        Row(
            "projection catch-up (live projector, from process start)",
            rate,
            "events/s",
            target=30_000,
            anchor="projection-runner",
            note=f"{count:,} events in {seconds:.1f}s",
            extra={"events": count, "seconds": seconds},
        )
    )
    _memory_row(ctx, "the projector during catch-up", sampler)
    analyze(ctx.settings)


def run_rebuild(ctx: Context) -> None:
    """Blue/green rebuild of the whole read table (seconds per 1,000,000 events, RSS)."""
    argv = cli_command("projections", "rebuild")
    finished = run_to_end("rebuild", argv, ctx.settings, ctx.workdir)
    sampler = finished.memory
    match = _REBUILT.search(finished.log)
    if match is None:
        msg = f"rebuild printed no summary:\n{finished.log[-2000:]}"
        raise RuntimeError(msg)
    events, seconds = int(match.group(1)), float(match.group(2))
    per_million = seconds / events * 1_000_000 if events else None
    ctx.add(
        Row(
            "projection rebuild (blue/green): time per 1,000,000 events",
            per_million,
            "s",
            target=45,
            better="lower",
            note=f"{events:,} events in {seconds:.1f}s = {events / seconds:,.0f} events/s",
            extra={"events": events, "seconds": seconds, "rate": events / seconds},
        )
    )
    _memory_row(ctx, "the rebuild process (1M-tenant store)", sampler)


class LandingLog:
    """Listens on the projection's channel; records when each projected position was seen."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="landing-log", daemon=True)

    def _run(self) -> None:
        channel = projected_channel(self.settings)
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._ready.set()
            while not self._stop.is_set():
                for notify in conn.notifies(timeout=0.2):
                    now = time.perf_counter()
                    if notify.payload.isdigit():
                        self.seen.append((int(notify.payload), now))

    @contextmanager
    def running(self) -> Iterator[LandingLog]:
        self._thread.start()
        self._ready.wait(10)
        try:
            yield self
        finally:
            time.sleep(0.3)
            self._stop.set()
            self._thread.join()

    def landed_at(self, position: int) -> float | None:
        """When the first batch reaching ``position`` was announced."""
        return next((t for p, t in self.seen if p >= position), None)


def _warm_projector(ctx: Context, app: TenantRegistry, tenant_id: UUID) -> None:
    """A second of the same load, unmeasured, and wait until it is projected.

    On an empty store ``caught_up()`` returns at once (head and position are both 0) while
    the projector it launched is still starting; measured, that start read as a lag p99 of
    270-580 ms on a fresh database (p50 5-20 ms), 24 ms when other scenarios ran first.
    """
    position = 0
    for n in range(200):
        position = app.run(
            Command.PAUSE if n % 2 else Command.ACTIVATE, tenant_id, actor="bench"
        ).position
        time.sleep(1 / 200)
    deadline = time.monotonic() + 60
    while projected(ctx.settings) < position and time.monotonic() < deadline:
        time.sleep(0.05)


def run_lag(ctx: Context) -> None:
    """Commit-to-read-table lag while one thread issues commands at a steady rate."""
    ctx.services.caught_up()
    rate, seconds = 200.0, ctx.size(20, 5)
    app = TenantRegistry(ctx.settings)
    acks: list[tuple[int, float]] = []
    try:
        tenant = app.register(slug=f"lag-{time.time_ns()}", name="Lag", actor="bench").tenant
        _warm_projector(ctx, app, tenant.id)
        with LandingLog(ctx.settings).running() as landing:
            t0 = time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < seconds:
                n += 1
                command = Command.PAUSE if n % 2 else Command.ACTIVATE
                position = app.run(command, tenant.id, actor="bench").position
                acks.append((position, time.perf_counter()))
                time.sleep(max(0.0, t0 + n / rate - time.perf_counter()))
    finally:
        app.close()
    lags = [
        max(0.0, landed - acked)
        for position, acked in acks
        if (landed := landing.landed_at(position)) is not None
    ]
    missing = len(acks) - len(lags)
    p99 = percentile(lags, 99) * 1000
    ctx.add(
        Row(
            f"projection lag p99, commit -> read table ({rate:.0f} commands/s steady)",
            p99,
            "ms",
            target=100,
            better="lower",
            note=f"p50 {percentile(lags, 50) * 1000:.1f} ms, max {max(lags, default=0) * 1000:.1f}"
            f" ms over {len(lags)} commands" + (f"; {missing} never seen" if missing else ""),
            extra={"commands": len(acks), "missing": missing},
        )
    )
