"""An import killed with SIGKILL half-way and run again: every good row once, no slug twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.slug_index import SlugIndex
from domain.tenant import Tenant
from tests.importing.conftest import CLI, SourceTable, cli_env, run_import

ROWS = 12_000
DUPLICATE_EVERY = 1_000  # row n*1000 reuses the slug of the row created just before it

FILL = """
INSERT INTO {} (id, name, slug, status, timezone, plan, created_at, updated_at)
SELECT gen_random_uuid(), 'Tenant ' || g,
       CASE WHEN mod(g, %(every)s) = 0 THEN 'bulk-' || (g - 1) ELSE 'bulk-' || g END,
       (ARRAY['trial', 'active', 'grace', 'paused', 'cancelled'])[1 + mod(g, 5)],
       'Asia/Jerusalem', 'standard',
       now() - interval '1 day' + g * interval '1 second',
       now() - interval '1 day' + g * interval '1 second'
FROM generate_series(1, %(rows)s) AS g
"""


def _kill_after_some_batches(settings: Settings, table: SourceTable, tmp_path: Path) -> None:
    """Start the import (two share processes), wait for its progress to show committed
    batches, SIGKILL it: its share processes stop after the batch they are saving."""
    args = ["--from", table.url, "--table", table.name, "--batch-size", "100", "--workers", "2"]
    with (tmp_path / "killed.out").open("wb") as out:
        process = subprocess.Popen(
            [CLI, "import", *args], env=cli_env(settings), stdout=out, stderr=subprocess.PIPE
        )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    try:
        for line in process.stderr:
            if b" read, imported " in line and not line.startswith(b"import: 0 read"):
                break
            assert time.monotonic() < deadline, "no progress within 120 s"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def _stored(settings: Settings) -> tuple[list[tuple[str, int]], list[str]]:
    """(topic, number of events) per stored originator, and the claimed slugs' states."""
    events = sql.Identifier(settings.db_schema, EVENTS_TABLE)
    with psycopg.connect(settings.database_url) as conn:
        per_originator = conn.execute(
            sql.SQL("SELECT min(topic), count(*)::int FROM {} GROUP BY originator_id").format(
                events
            )
        ).fetchall()
        claims = conn.execute(
            sql.SQL("SELECT convert_from(state, 'UTF8') FROM {} WHERE topic = %s").format(events),
            (SlugIndex.Created.TOPIC,),
        ).fetchall()
    return [(r[0], r[1]) for r in per_originator], [r[0] for r in claims]


def test_import_killed_half_way_and_rerun_saves_every_good_row_exactly_once(
    settings: Settings, source_table: SourceTable, tmp_path: Path
) -> None:
    with psycopg.connect(source_table.url) as conn:
        conn.execute(
            sql.SQL(FILL).format(sql.Identifier(source_table.name)),
            {"rows": ROWS, "every": DUPLICATE_EVERY},
        )
    duplicates = ROWS // DUPLICATE_EVERY
    good = ROWS - duplicates

    _kill_after_some_batches(settings, source_table, tmp_path)
    rerun = run_import(settings, "--from", source_table.url, "--table", source_table.name)

    assert rerun.returncode == 0, rerun.stderr
    summary = rerun.summary
    assert 0 < summary["already_present"] < good, "the kill did not land half-way"
    assert summary["imported"] + summary["already_present"] == good
    assert summary["refused_by_reason"] == {"duplicate-slug": duplicates}
    per_originator, claims = _stored(settings)
    tenants = [n for topic, n in per_originator if topic == Tenant.Imported.TOPIC]
    assert len(tenants) == good
    assert set(tenants) == {1}  # one event per tenant: nothing saved twice
    assert len(claims) == good
    slugs = [json.loads(c)["slug"] for c in claims]
    assert len(set(slugs)) == good  # no slug claimed twice
    assert len(per_originator) == 2 * good
