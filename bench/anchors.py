"""Anchors measured in the same run: ``pgbench`` one-row inserts, and the library's defaults.

The machine (2 shared cores, PostgreSQL on the same host, commit = WAL flush) moves every
figure; an anchor measured minutes apart from the figure is what makes a ratio meaningful.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.context import Context, Row

PGBENCH_SCRIPT = "\\set v random(1, 1000000)\nINSERT INTO bench_anchor (v) VALUES (:v);\n"
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)


def pgbench_path() -> str:
    """``pgbench`` on PATH, else next to ``pg_config``'s binaries."""
    found = shutil.which("pgbench")
    if found:
        return found
    bindir = subprocess.run(
        ["pg_config", "--bindir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(Path(bindir) / "pgbench")


def run_pgbench(ctx: Context) -> None:
    """One-row insert per transaction, 1 and 8 clients (commits/s)."""
    url = ctx.settings.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_anchor (id bigserial PRIMARY KEY, v int)")
    script = ctx.workdir / "pgbench_insert.sql"
    script.write_text(PGBENCH_SCRIPT)
    seconds = ctx.size(10, 3)
    for clients, name in ((1, "pgbench-1"), (8, "pgbench-8")):
        cmd = [pgbench_path(), "-n", "-f", str(script), "-T", str(seconds), "-c", str(clients)]
        if clients > 1:
            cmd += ["-j", "2"]
        out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
        match = _TPS.search(out)
        tps = float(match.group(1)) if match else None
        if tps is not None:
            ctx.anchors[name] = tps
        ctx.add(
            Row(
                f"anchor: pgbench one-row insert, {clients} client{'s' if clients > 1 else ''}",
                tps,
                "commits/s",
                note="SPEC: ~6,000/s (1 client), ~19,000/s (8 clients)",
            )
        )


class Counter(Aggregate):
    """The smallest aggregate worth saving."""

    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class VanillaApp(Application[uuid.UUID]):
    """The library's application with every default (default recorder, no snapshots)."""

    name = "BenchVanilla"


def vanilla_env(ctx: Context) -> dict[str, str]:
    """The library's own environment for the scratch database (default everything else)."""
    params: dict[str, Any] = ctx.settings.connection_params()
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname")),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "CREATE_TABLE": "y",
    }


def run_eventsourcing_saves(ctx: Context) -> None:
    """The library's default path: load + command + save, one thread (saves/s)."""
    app = VanillaApp(env=vanilla_env(ctx))
    try:
        ids = []
        for _ in range(200):
            counter = Counter()
            app.save(counter)
            ids.append(counter.id)
        seconds = ctx.size(8, 2)
        done = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            counter = app.repository.get(ids[done % len(ids)])
            counter.increment()
            app.save(counter)
            done += 1
        rate = done / (time.perf_counter() - t0)
    finally:
        app.close()
    ctx.anchors["eventsourcing-save"] = rate
    ctx.add(
        Row(
            "anchor: eventsourcing default save path, 1 thread",
            rate,
            "saves/s",
            note="SPEC: ~1,150/s",
        )
    )


def run_projection_runner(ctx: Context) -> None:
    """The library's stock ``ProjectionRunner`` over the seeded store (capped: it is slow)."""
    from bench.projection import measure_default_runner  # noqa: PLC0415 - imports the tests' seeder

    result = measure_default_runner(ctx.settings, ctx.size(50_000, 5_000), ctx.size(30, 8))
    rate = float(result["events_per_s"])
    ctx.anchors["projection-runner"] = rate
    ctx.add(
        Row(
            "anchor: eventsourcing ProjectionRunner, one row per event",
            rate,
            "events/s",
            note=f"SPEC: ~1,800/s; {result['events']:,} events in {result['seconds']}s (capped)",
        )
    )
