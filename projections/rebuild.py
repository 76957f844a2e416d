"""Blue/green rebuild of the ``tenants`` read table.

1. Refuse if another rebuild holds the rebuild lock (a session-level advisory lock).
2. Build generation n+1 from position 0 (primary keys only, so the bulk load stays cheap),
   while readers and the live projector keep using generation n through the views.
3. Create the secondary indexes, catch up again.
4. Swap, in one transaction: lock the live projection's tracking row (the live projector
   finishes its batch and then waits), project what is left into n+1, repoint the views, move
   the live tracking position. Readers see generation n until the commit and n+1 after it,
   never an empty or partial table. The live projector resumes on n+1 through the views.
5. Drop generation n.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from common.db import connect
from common.settings import Settings
from common.tables import EVENTS_TABLE
from projections.batch import BatchProjector, BatchResult, Target
from projections.runner import drain
from projections.schema import (
    TENANTS,
    TRACKING,
    create_generation,
    create_indexes,
    drop_generation,
    generations,
    has_trgm,
    live_generation,
    point_views,
    tenants_table,
)
from projections.status import Heartbeat

log = logging.getLogger(__name__)

REBUILD_LOCK_KEY = 7_215_300_502
REBUILD_BATCH_SIZE = 10_000

#: Called after each batch with (events so far, position reached, head at the start).
Progress = Callable[[int, int, int], None]


class RebuildRefused(Exception):
    """Another rebuild is running (or the schema is not migrated)."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did."""

    generation: int
    events: int
    position: int
    seconds: float


def rebuild(
    settings: Settings, *, batch_size: int = REBUILD_BATCH_SIZE, progress: Progress | None = None
) -> RebuildResult:
    """Rebuild the read table from the whole event store and swap it in atomically."""
    started = time.monotonic()
    with connect(settings) as lock_conn:
        row = lock_conn.execute(
            "SELECT pg_try_advisory_lock(%s) AS locked", (REBUILD_LOCK_KEY,)
        ).fetchone()
        if row is None or not row["locked"]:
            msg = "another rebuild of the tenants projection is running"
            raise RebuildRefused(msg)
        with connect(settings) as conn, connect(settings) as ahead:
            generation, events, position = _rebuild_locked(
                conn, ahead, settings, batch_size, progress
            )
    return RebuildResult(generation, events, position, time.monotonic() - started)


def _rebuild_locked(
    conn: psycopg.Connection[Any],
    ahead: psycopg.Connection[Any],
    settings: Settings,
    batch_size: int,
    progress: Progress | None,
) -> tuple[int, int, int]:
    live = live_generation(conn, settings)
    if live is None:
        msg = "the read side is not migrated; run `tenant-registry migrate` first"
        raise RebuildRefused(msg)
    new = max([live, *generations(conn, settings)]) + 1
    _drop_leftovers(conn, settings, live)
    trgm = has_trgm(conn)
    create_generation(conn, settings, new, indexes=False, trgm=trgm)
    target = Target(f"rebuild:{tenants_table(new)}", new)
    projector = BatchProjector(settings, target, batch_size)
    heartbeat = Heartbeat(settings, f"rebuild-{uuid.uuid4().hex[:12]}", TENANTS)
    head = _head(conn, settings)
    counted = [0]

    def on_batch(result: BatchResult) -> None:
        counted[0] += result.events
        heartbeat.beat(conn, "rebuilding", result.position)
        if progress is not None:
            progress(counted[0], result.position, head)

    try:
        heartbeat.beat(conn, "rebuilding", 0)
        drain(conn, projector, on_batch=on_batch, ahead_conn=ahead)
        create_indexes(conn, settings, new, trgm=trgm)
        conn.execute(
            sql.SQL("ANALYZE {}").format(sql.Identifier(settings.db_schema, tenants_table(new)))
        )
        drain(conn, projector, on_batch=on_batch, ahead_conn=ahead)
        position = _swap(conn, settings, projector, new, on_batch)
    except BaseException:
        drop_generation(conn, settings, new)
        _forget_tracking(conn, settings, target.tracking)
        raise
    finally:
        heartbeat.leave(conn)
    drop_generation(conn, settings, live)
    log.info("rebuild swapped in", extra={"generation": new, "position": position})
    return new, counted[0], position


def _swap(
    conn: psycopg.Connection[Any],
    settings: Settings,
    projector: BatchProjector,
    generation: int,
    on_batch: Callable[[BatchResult], None],
) -> int:
    live = BatchProjector(settings, Target())
    with conn.transaction():
        live.locked_position(conn)  # the live projector now waits for us
        position = projector.locked_position(conn)
        while True:
            result = projector.project_after(conn, position)
            position = result.position
            on_batch(result)
            if not result.full:
                break
        point_views(conn, settings, generation)
        conn.execute(
            sql.SQL(
                "UPDATE {} SET position = %s, updated_at = now(), last_error = NULL,"
                " error_position = NULL WHERE name = %s"
            ).format(sql.Identifier(settings.db_schema, TRACKING)),
            (position, TENANTS),
        )
        _forget_tracking(conn, settings, projector.target.tracking)
    return position


def drop_abandoned(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Drop generations left by a rebuild that died, unless a rebuild is running now.

    A leftover table would keep rows of tenants that are purged later: personal data that
    the live read side has erased.
    """
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS locked", (REBUILD_LOCK_KEY,)).fetchone()
    if row is None or not row["locked"]:
        return
    try:
        live = live_generation(conn, settings)
        if live is not None:
            _drop_leftovers(conn, settings, live)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (REBUILD_LOCK_KEY,))


def _drop_leftovers(conn: psycopg.Connection[Any], settings: Settings, live: int) -> None:
    """Generations left by a rebuild that died (we hold the lock: none is being built)."""
    for generation in generations(conn, settings):
        if generation != live:
            log.info("dropping a leftover generation", extra={"generation": generation})
            drop_generation(conn, settings, generation)
            _forget_tracking(conn, settings, f"rebuild:{tenants_table(generation)}")


def _forget_tracking(conn: psycopg.Connection[Any], settings: Settings, name: str) -> None:
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE name = %s").format(
            sql.Identifier(settings.db_schema, TRACKING)
        ),
        (name,),
    )


def _head(conn: psycopg.Connection[Any], settings: Settings) -> int:
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}").format(
            sql.Identifier(settings.db_schema, EVENTS_TABLE)
        )
    ).fetchone()
    return int(row["head"]) if row else 0
