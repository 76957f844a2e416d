"""Synchronous catch-up of the ``tenants`` projection (tests, CLI chores, the follower's core)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg

from common.db import connect
from common.settings import Settings
from projections.batch import DEFAULT_BATCH_SIZE, BatchProjector, BatchResult, Scan, Target
from projections.fold import ProjectionError

log = logging.getLogger(__name__)

OnBatch = Callable[[BatchResult], None]


def drain(
    conn: psycopg.Connection[Any],
    projector: BatchProjector,
    *,
    on_batch: OnBatch | None = None,
    ahead_conn: psycopg.Connection[Any] | None = None,
) -> int:
    """Run batches until the projection reaches the head; return how many events it projected.

    With ``ahead_conn``, the next batch is read and decoded on it while the current one is
    written, so Python and PostgreSQL work at the same time on a long catch-up.

    A :class:`ProjectionError` stops progress: it is recorded on the tracking row (shown by
    ``projections status``), logged with its position, and raised.
    """
    total = 0
    position = 0
    scan: Scan | None = None
    ahead: Future[Scan] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-ahead") as pool:
        while True:
            try:
                with conn.transaction():
                    position = projector.locked_position(conn)
                    scan = ahead.result() if ahead is not None else None
                    if scan is None or scan.after != position:
                        scan = projector.scan(conn, position)
                    ahead = None
                    if ahead_conn is not None and scan.full:
                        ahead = pool.submit(projector.scan, ahead_conn, scan.end)
                    result = projector.apply(conn, scan)
            except ProjectionError as exc:
                _stopped(conn, projector, exc)
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the database went away: the caller reconnects
            except psycopg.Error as exc:
                # The database refused the batch's rows (e.g. text jsonb cannot hold): that is
                # data the projection cannot apply, not an outage; stop loudly at the batch.
                first = scan.events[0] if scan is not None and scan.events else None
                failure = ProjectionError(
                    first.position if first else position + 1,
                    first.tenant_id if first else None,
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                )
                _stopped(conn, projector, failure)
                raise failure from exc
            total += result.events
            if on_batch is not None:
                on_batch(result)
            if not result.full:
                return total


def _stopped(
    conn: psycopg.Connection[Any], projector: BatchProjector, exc: ProjectionError
) -> None:
    log.error(
        "projection stopped",
        extra={
            "projection": projector.target.tracking,
            "position": exc.position,
            "tenant_id": str(exc.tenant_id),
            "error": exc.reason,
        },
    )
    projector.record_error(conn, str(exc), exc.position)


def catch_up(settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Process every pending event once, synchronously; return how many tenant events."""
    projector = BatchProjector(settings, Target(), batch_size)
    with connect(settings) as conn, connect(settings) as ahead_conn:
        return drain(conn, projector, ahead_conn=ahead_conn)
