"""One projection batch: read events after the tracked position, fold, write, track; one commit.

Exactly-once: the tracking row is locked (``FOR UPDATE``) at the start of the transaction and
the new position is written in the same commit as the rows, so a crash at any point leaves the
table and its position consistent, and two processes working on one projection serialise.

Reading ``notification_id > position`` never skips an event: every writer holds
``LOCK TABLE … IN EXCLUSIVE MODE``, so ids commit in order (gaps exist but never fill later).
The scan covers every event (slug index events too) so that the position can reach the head,
and only tenant events are shipped back; one statement, so one snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from common.db import rendered
from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.evolution import upcast
from projections.decoding import StateDecoder
from projections.fold import (
    EVENT_CLASSES,
    TENANT_TOPICS,
    ProjectionError,
    StoredTenantEvent,
    fold,
)
from projections.schema import (
    LIVE_TABLE_QUERY,
    TENANTS,
    TRACKING,
    generation_of,
    view_name,
)
from projections.writer import RowCountMismatch, TableWriter

DEFAULT_BATCH_SIZE = 5_000


def projected_channel(settings: Settings) -> str:
    """The NOTIFY channel on which a committed batch announces its new position."""
    return f"{settings.db_schema}_tenants_projected"


@dataclass(frozen=True)
class Target:
    """Where a batch writes: its tracking name and table generation (None: the live one)."""

    tracking: str = TENANTS
    generation: int | None = None


@dataclass(frozen=True)
class Scan:
    """The tenant events of positions (``after``, ``end``], decoded."""

    after: int
    end: int
    events: list[StoredTenantEvent]
    full: bool  # the scan hit its limit: more may be waiting


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    events: int
    position: int
    full: bool  # the scan hit its limit: more may be waiting


class BatchProjector:
    """Runs projection batches on a connection (statements composed once)."""

    def __init__(
        self, settings: Settings, target: Target = Target(), batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.settings = settings
        self.target = target
        self.batch_size = batch_size
        self._decoder = StateDecoder()
        self._topics = list(TENANT_TOPICS)
        self._channel = projected_channel(settings)
        self._writers: dict[int, TableWriter] = {}
        self._build_statements()

    def _build_statements(self) -> None:
        schema = self.settings.db_schema
        tracking = sql.Identifier(schema, TRACKING)
        events = sql.Identifier(schema, EVENTS_TABLE)
        # An upsert that returns the row also locks it, and in the same round trip: the
        # batch's settings, and for the live projection the table the view reads (stable
        # while the lock is held: a rebuild swaps generations under it).
        # Derived data: a crash may lose the newest batches, rows and position together, and
        # they are projected again. Not waiting for the WAL flush saves a disk sync per batch.
        # The staged changes join the table through its primary key: a hash join would read
        # the whole table on every batch (the unanalysed staging table misleads the planner).
        live = sql.SQL(", ({}) AS live_table").format(sql.SQL(LIVE_TABLE_QUERY))
        self._sql_lock = rendered(
            sql.SQL(
                "INSERT INTO {} AS t (name) VALUES (%s) ON CONFLICT (name)"
                " DO UPDATE SET name = t.name RETURNING t.position,"
                " set_config('synchronous_commit', 'off', true) AS synchronous_commit,"
                " set_config('enable_hashjoin', 'off', true) AS enable_hashjoin,"
                " set_config('enable_mergejoin', 'off', true) AS enable_mergejoin{}"
            ).format(tracking, live if self.target.generation is None else sql.SQL(""))
        )
        self._lock_params: tuple[str, ...] = (self.target.tracking,)
        if self.target.generation is None:
            self._lock_params += (view_name(self.settings),)
        self._sql_position = sql.SQL("SELECT position FROM {} WHERE name = %s").format(tracking)
        self._sql_scan = rendered(
            sql.SQL(
                "WITH scan AS MATERIALIZED ("
                " SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
                " WHERE notification_id > %(after)s ORDER BY notification_id LIMIT %(limit)s)"
                " SELECT notification_id, originator_id, originator_version, topic, state FROM scan"
                " WHERE topic = ANY(%(topics)s)"
                " UNION ALL SELECT max(notification_id), NULL, count(*), NULL, NULL FROM scan"
            ).format(events)
        )
        self._sql_track = rendered(
            sql.SQL(
                "WITH t AS (UPDATE {} SET position = %(position)s, updated_at = now(),"
                " last_error = NULL, error_position = NULL WHERE name = %(name)s)"
                " SELECT pg_notify(%(channel)s, %(position)s::text)"
            ).format(tracking)
        )
        #: The live generation read by the last :meth:`locked_position` (its transaction's).
        self._locked_generation: int | None = None
        # An upsert: the failing batch may have been the first, whose tracking row was
        # created in the transaction that just rolled back.
        self._sql_error = sql.SQL(
            "INSERT INTO {} (name, last_error, error_position) VALUES (%(name)s, %(e)s, %(p)s)"
            " ON CONFLICT (name) DO UPDATE SET last_error = %(e)s, error_position = %(p)s"
        ).format(tracking)

    def run_batch(self, conn: psycopg.Connection[Any]) -> BatchResult:
        """Project the next batch in one transaction (``conn`` must be in autocommit mode)."""
        with conn.transaction():
            return self.project_after(conn, self.locked_position(conn))

    def position(self, conn: psycopg.Connection[Any]) -> int:
        """The tracked position, without locking (0 before the first batch)."""
        row = conn.execute(self._sql_position, (self.target.tracking,), prepare=True).fetchone()
        return 0 if row is None else int(_values(row)[0])

    def locked_position(self, conn: psycopg.Connection[Any]) -> int:
        """Lock the tracking row (create it at 0 if missing) and set the batch's settings;
        return its position.

        While it is held, a rebuild cannot swap generations: the live one is stable.
        """
        row = conn.execute(self._sql_lock, self._lock_params, prepare=True).fetchone()
        assert row is not None  # noqa: S101 - an upsert with RETURNING yields the row
        values = _values(row)
        if self.target.generation is None:
            self._locked_generation = generation_of(values[4])
        return int(values[0])

    def project_after(self, conn: psycopg.Connection[Any], position: int) -> BatchResult:
        """Inside an open transaction holding the tracking lock: project one batch."""
        return self.apply(conn, self.scan(conn, position))

    def scan(self, conn: psycopg.Connection[Any], after: int) -> Scan:
        """Read and decode the batch after ``after`` (events are immutable: any connection)."""
        params = {"after": after, "limit": self.batch_size, "topics": self._topics}
        with conn.cursor(row_factory=tuple_row) as cur:
            rows = cur.execute(self._sql_scan, params, prepare=True, binary=True).fetchall()
        sentinel = rows[-1]
        scanned = int(sentinel[2])
        end = int(sentinel[0]) if scanned else after
        events = [self._decode(r) for r in rows[:-1]]
        return Scan(after, end, events, full=scanned >= self.batch_size)

    def apply(self, conn: psycopg.Connection[Any], scan: Scan) -> BatchResult:
        """Inside the batch's transaction: write the scan's outcome and its position."""
        if scan.end == scan.after:
            return BatchResult(0, scan.after, full=False)
        if scan.events:
            self._project(conn, scan.events)
        track = {"position": scan.end, "name": self.target.tracking, "channel": self._channel}
        conn.execute(self._sql_track, track, prepare=True)
        return BatchResult(len(scan.events), scan.end, full=scan.full)

    def _project(self, conn: psycopg.Connection[Any], events: list[StoredTenantEvent]) -> None:
        writer = self._writer(conn)
        folded = fold(events)
        try:
            writer.write(conn, folded)
        except RowCountMismatch as exc:
            # The first event of the first such tenant is where the stream and table part.
            culprit = next(e for e in events if e.tenant_id in set(exc.tenant_ids))
            raise ProjectionError(culprit.position, culprit.tenant_id, str(exc)) from exc
        except psycopg.IntegrityError as exc:
            # A registration of a tenant that already has a row; set-based, so report the span.
            first, last = events[0].position, events[-1].position
            reason = f"batch {first}..{last} disagrees with the table: {exc}"
            raise ProjectionError(first, None, reason) from exc

    def _writer(self, conn: psycopg.Connection[Any]) -> TableWriter:
        generation = self.target.generation
        if generation is None:
            generation = self._locked_generation
            if generation is None:
                msg = "the read side is not migrated (no tenants view)"
                raise ProjectionError(0, None, msg)
        writer = self._writers.get(generation)
        if writer is None:
            writer = self._writers[generation] = TableWriter(self.settings.db_schema, generation)
        return writer

    def record_error(self, conn: psycopg.Connection[Any], error: str, position: int) -> None:
        """Note why progress stopped, for ``projections status`` (own transaction)."""
        conn.execute(
            self._sql_error, {"name": self.target.tracking, "e": error[:2000], "p": position}
        )

    def _decode(self, values: Sequence[Any]) -> StoredTenantEvent:
        try:
            state = upcast(EVENT_CLASSES[values[3]], self._decoder.decode(values[4]))
        except Exception as exc:
            reason = f"undecodable state: {type(exc).__name__}: {exc}"
            raise ProjectionError(values[0], values[1], reason) from exc
        return StoredTenantEvent(values[0], values[1], values[2], values[3], state)


def _values(row: Any) -> Sequence[Any]:
    """Row values whatever the connection's row factory (tuples or dicts)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)
