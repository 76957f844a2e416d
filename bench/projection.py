"""Projection catch-up and rebuild speed, beside the library's default ProjectionRunner.

    .venv/bin/python -m bench.projection [--events 200000]

Seeds a scratch database (created and dropped here) with tenant histories, then measures in
one run: our batch projection catching up from 0, a blue/green rebuild of the same events
(including index builds and the swap), and the ``eventsourcing`` library's default
``ProjectionRunner`` with a one-row-per-event projection over the same data (capped), plus a
``pgbench`` one-row-insert anchor. Prints a table; writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg import sql

from application.registry import TenantRegistry
from cli.cmd_core import migrate_all
from common.db import connect
from common.settings import Settings
from domain.tenant import TENANT_TOPICS
from projections.batch import BatchProjector, Target
from projections.rebuild import rebuild
from projections.runner import drain
from tests.support.seed import seed_events

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# ---- the library's default path: one event, one row, one transaction -----------------------


class EventRowsView(PostgresTrackingRecorder):
    """A materialised view with one row per event, tracked in the same transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = sql.Identifier(datastore.schema, "bench_event_rows")
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (tenant_id uuid, version bigint, type text,"
                " PRIMARY KEY (tenant_id, version))"
            ).format(table)
        )
        self._insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table)

    def record(self, tenant_id: UUID, version: int, kind: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._insert, (tenant_id, version, kind))
            self._insert_tracking(curs, tracking)


class EventRowsProjection(Projection[EventRowsView]):
    name = "bench_event_rows"
    topics = tuple(TENANT_TOPICS.values())

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(
            domain_event.originator_id,
            domain_event.originator_version,
            type(domain_event).__name__,
            tracking,
        )


class _BenchRegistry(TenantRegistry):
    """The registry as the library's runner constructs applications: from ``env`` only."""

    name = TenantRegistry.name  # the same event tables
    settings_for_runner: Settings

    def __init__(self, env: Any = None) -> None:
        super().__init__(self.settings_for_runner)


def measure_default_runner(
    settings: Settings, cap_events: int, cap_seconds: float
) -> dict[str, Any]:
    """Rate of the stock ProjectionRunner over the seeded events (capped)."""
    _BenchRegistry.settings_for_runner = settings
    env = settings.eventsourcing_env(create_table=True)
    count = sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(settings.db_schema, "bench_event_rows")
    )
    started = time.perf_counter()
    with (
        ProjectionRunner(
            application_class=_BenchRegistry,
            projection_class=EventRowsProjection,
            view_class=EventRowsView,
            env=env,
        ),
        psycopg.connect(settings.database_url) as conn,
    ):
        done = 0
        while done < cap_events and time.perf_counter() - started < cap_seconds:
            time.sleep(0.5)
            row = conn.execute(count).fetchone()
            done = int(row[0]) if row else 0
        elapsed = time.perf_counter() - started
    return {"events": done, "seconds": round(elapsed, 2), "events_per_s": round(done / elapsed)}


# ---- ours ----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process on this host (a PostgreSQL backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_catch_up(settings: Settings, batch_size: int) -> dict[str, Any]:
    """Catch-up from 0 with wall time, and CPU time of this process and of its backends.

    The machine is shared: the CPU seconds say what the work costs whatever the contention;
    events / (client + server CPU) is the rate with no overlap on one free core.
    """
    projector = BatchProjector(settings, Target(), batch_size)
    with connect(settings) as conn, connect(settings) as ahead:
        backends = [conn.info.backend_pid, ahead.info.backend_pid]
        server_before = sum(_cpu_seconds(pid) for pid in backends)
        client_before = time.process_time()
        started = time.perf_counter()
        events = drain(conn, projector, ahead_conn=ahead)
        elapsed = time.perf_counter() - started
        client = time.process_time() - client_before
        server = sum(_cpu_seconds(pid) for pid in backends) - server_before
    return {
        "events": events,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "client_cpu_s": round(client, 2),
        "server_cpu_s": round(server, 2),
        "events_per_cpu_s": round(events / (client + server)),
    }


def measure_rebuild(settings: Settings) -> dict[str, Any]:
    result = rebuild(settings)
    rate = result.events / result.seconds
    return {
        "events": result.events,
        "seconds": round(result.seconds, 2),
        "events_per_s": round(rate),
    }


def measure_pgbench(url: str, seconds: int) -> dict[str, Any]:
    """The anchor: one-row insert per transaction, one client."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.bench_anchor (v int)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO public.bench_anchor VALUES (1);\n")
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-c", "1", "-T", str(seconds), "-f", script.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in out.stdout.splitlines()
        if line.startswith("tps")
    )
    return {"commits_per_s": round(tps)}


# ---- orchestration -------------------------------------------------------------------------


def _scratch_database() -> str:
    name = f"tr_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    name = _scratch_database()
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    settings = Settings.model_validate({"DATABASE_URL": url})
    try:
        migrate_all(settings)
        app = TenantRegistry(settings)
        started = time.perf_counter()
        tenants = len(seed_events(app, args.events, chunk=10_000))
        seeded = {"events": app.head(), "tenants": tenants,
                  "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        app.close()
        print(f"seeded {seeded}", file=sys.stderr)
        results: dict[str, Any] = {"seed": seeded}
        results["catch_up"] = measure_catch_up(settings, args.batch_size)
        print(f"catch-up {results['catch_up']}", file=sys.stderr)
        results["rebuild"] = measure_rebuild(settings)
        print(f"rebuild {results['rebuild']}", file=sys.stderr)
        results["default_runner"] = measure_default_runner(
            settings, args.default_cap_events, args.default_cap_seconds
        )
        if not args.no_pgbench:
            results["pgbench_1_client"] = measure_pgbench(url, 5)
        return results
    finally:
        if not args.keep:
            _drop_database(name)


def _print_table(results: dict[str, Any]) -> None:
    rows = [
        ("our catch-up (from 0)", results["catch_up"]),
        ("our blue/green rebuild", results["rebuild"]),
        ("library ProjectionRunner (capped)", results["default_runner"]),
    ]
    print(f"{'what':<36}{'events':>10}{'seconds':>10}{'events/s':>12}")
    for label, r in rows:
        print(f"{label:<36}{r['events']:>10,}{r['seconds']:>10}{r['events_per_s']:>12,}")
    if "pgbench_1_client" in results:
        print(f"anchor: pgbench one-row insert, 1 client: "
              f"{results['pgbench_1_client']['commits_per_s']:,} commits/s")  # fmt: skip
    cu = results["catch_up"]
    print(f"catch-up CPU: client {cu['client_cpu_s']} s + server {cu['server_cpu_s']} s"
          f" = {cu['events_per_cpu_s']:,} events per CPU-second")  # fmt: skip
    ratio = results["catch_up"]["events_per_s"] / max(results["default_runner"]["events_per_s"], 1)
    print(f"catch-up vs library default: {ratio:.1f}x; target >= 30,000 events/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--default-cap-events", type=int, default=50_000)
    parser.add_argument("--default-cap-seconds", type=float, default=30.0)
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    results = run(args)
    results["when"] = datetime.now(UTC).isoformat()
    results["args"] = vars(args)
    _print_table(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"projection-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
