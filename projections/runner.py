"""Synchronous catch-up of the ``tenants`` projection (tests, CLI chores, the follower's core)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from common.db import connect
from common.settings import Settings
from projections.batch import DEFAULT_BATCH_SIZE, BatchProjector, Target
from projections.fold import ProjectionError

log = logging.getLogger(__name__)


def drain(conn: psycopg.Connection[Any], projector: BatchProjector, *, on_batch: Any = None) -> int:
    """Run batches until the projection reaches the head; return how many events it projected.

    A :class:`ProjectionError` stops progress: it is recorded on the tracking row (shown by
    ``projections status``), logged with its position, and raised.
    """
    total = 0
    while True:
        try:
            result = projector.run_batch(conn)
        except ProjectionError as exc:
            log.error(  # noqa: TRY400 - the reason is the message; no traceback needed
                "projection stopped",
                extra={
                    "projection": projector.target.tracking,
                    "position": exc.position,
                    "tenant_id": str(exc.tenant_id),
                    "error": exc.reason,
                },
            )
            projector.record_error(conn, str(exc), exc.position)
            raise
        total += result.events
        if on_batch is not None:
            on_batch(result)
        if not result.full:
            return total


def catch_up(settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Process every pending event once, synchronously; return how many tenant events."""
    projector = BatchProjector(settings, Target(), batch_size)
    with connect(settings) as conn:
        return drain(conn, projector)
