"""Import of 1,000,000 rows from a tenants table (SPEC §7, §13), beside the seeder's rate.

The source is a plain mutable tenants table in a schema of the scratch database, filled by
one ``INSERT … SELECT`` (every status, a tenth soft-deleted, some past retention, a duplicate
slug every 10,000 rows). ``tenant-registry import`` runs in a process of its own, so its time
is from process start and its peak RSS is its own. The anchor is the seeder's rate measured in
the same run: ``save_batch`` through the same event store, with tenants the domain built.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime

import psycopg

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.procs import cli_command, run_to_end
from bench.seeding import seed_tenants

SOURCE_SCHEMA = "import_source"
SEED_ANCHOR = "seed-save-batch"
#: Overrides the number of rows (a loaded machine may only afford 200,000).
ROWS_ENV = "BENCH_IMPORT_ROWS"
#: Share processes of the import (as the seeder: two on two cores).
IMPORT_WORKERS = 2

FILL = """
CREATE SCHEMA IF NOT EXISTS import_source;
DROP TABLE IF EXISTS import_source.tenants;
CREATE TABLE import_source.tenants (
    id uuid PRIMARY KEY, name text, slug text, status text NOT NULL,
    timezone text NOT NULL DEFAULT 'Asia/Jerusalem', plan text, contact_email text,
    metadata jsonb, trial_ends_at timestamptz, grace_ends_at timestamptz,
    activated_at timestamptz, paused_at timestamptz, cancelled_at timestamptz,
    deleted_at timestamptz, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL
);
INSERT INTO import_source.tenants
SELECT gen_random_uuid(), 'Tenant ' || g || ' Ltd',
       'src-' || CASE WHEN mod(g, 10000) = 0 THEN g - 1 ELSE g END,
       (ARRAY['trial', 'active', 'active', 'grace', 'paused', 'cancelled'])[1 + mod(g, 6)],
       (ARRAY['Asia/Jerusalem', 'Europe/London', 'UTC'])[1 + mod(g, 3)],
       (ARRAY['standard', 'pro'])[1 + mod(g, 2)],
       CASE WHEN mod(g, 3) = 0 THEN 'ops' || g || '@example.com' END,
       CASE WHEN mod(g, 2) = 0 THEN jsonb_build_object('crm', g) END,
       NULL, NULL, NULL, NULL, NULL,
       CASE WHEN mod(g, 6) = 5 AND mod(g, 12) = 11  -- after creation, some past retention
            THEN now() - interval '400 days' + g * interval '20 seconds'
                 + (mod(g, 160) || ' days')::interval END,
       now() - interval '400 days' + g * interval '20 seconds',
       now() - interval '1 day'
FROM generate_series(1, %(rows)s) AS g;
ANALYZE import_source.tenants;
"""


def _fill_source(ctx: Context, rows: int) -> None:
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as conn:
        for statement in filter(str.strip, FILL.split(";")):
            conn.execute(statement, {"rows": rows} if "%(rows)s" in statement else None)


def _seed_anchor(ctx: Context) -> float:
    """The seeder's tenants/s through ``save_batch`` (one process), measured now."""
    count = ctx.size(50_000, 2_000)
    app = TenantRegistry(ctx.settings)
    try:
        t0 = time.monotonic()
        seed_tenants(app, count, now=datetime.now(UTC), prefix=f"anchor-{secrets.token_hex(3)}")
        rate = count / (time.monotonic() - t0)
    finally:
        app.close()
    ctx.anchors[SEED_ANCHOR] = rate
    ctx.say(f"  anchor: seeder {rate:,.0f} tenants/s through save_batch ({count:,} tenants)")
    return rate


def run(ctx: Context) -> None:
    """Fill the source table, import it with the CLI, report time, rate and memory."""
    rows = int(os.environ.get(ROWS_ENV) or ctx.size(1_000_000, 5_000))
    with ctx.step(f"filling the source table with {rows:,} rows"):
        _fill_source(ctx, rows)
    with ctx.step("seeder anchor"):
        _seed_anchor(ctx)
    argv = cli_command(
        "import",
        "--from",
        ctx.settings.database_url,
        "--table",
        f"{SOURCE_SCHEMA}.tenants",
        "--workers",
        str(IMPORT_WORKERS),
    )
    finished = run_to_end("import", argv, ctx.settings, ctx.workdir)
    seconds, sampler = finished.seconds, finished.memory
    summary = finished.json_line('{"source"')
    summary.pop("refused_rows", None)
    note = (
        f"imported {summary['imported']:,}, refused {summary['refused']:,} "
        f"{summary['refused_by_reason']}, due for purge {summary['due_for_purge']:,}"
    )
    ctx.add(
        Row(
            f"import of {rows:,} rows from a tenants table (tenant-registry import "
            f"--workers {IMPORT_WORKERS}, from process start)",
            seconds,
            "s",
            target=120 if rows >= 1_000_000 else None,
            better="lower",
            note=note,
            extra=summary,
        )
    )
    ctx.add(
        Row(
            "import rate beside the seeder (save_batch, 1 process)",
            rows / seconds,
            "rows/s",
            anchor=SEED_ANCHOR,
            note="the seeder's tenants carry 1-6 events; an imported tenant carries one",
        )
    )
    ctx.add(
        Row(
            "memory: peak RSS of the import process",
            sampler.peak_mib,
            "MiB",
            note=f"growth after the first tenth: {sampler.growth_mib():+.0f} MiB",
        )
    )
