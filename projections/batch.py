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
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from common.settings import Settings
from common.tables import EVENTS_TABLE
from common.transcoder import OrjsonTranscoder
from projections.fold import TENANT_TOPICS, Folded, Row, StoredTenantEvent, fold
from projections.schema import COLUMNS, PURGED, TENANTS, TRACKING

DEFAULT_BATCH_SIZE = 5_000

_ARRAY_TYPES = {
    "id": "uuid[]",
    "metadata": "jsonb[]",
    "version": "bigint[]",
    **{c: "timestamptz[]" for c in COLUMNS if c.endswith("_at") or c == "purge_after"},
}


def projected_channel(settings: Settings) -> str:
    """The NOTIFY channel on which a committed batch announces its new position."""
    return f"{settings.db_schema}_tenants_projected"


@dataclass(frozen=True)
class Target:
    """Where a batch writes: a tracking name and the relations of rows and purged ids."""

    tracking: str = TENANTS
    tenants: str = TENANTS
    purged: str = PURGED


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    events: int
    position: int
    full: bool  # the scan hit its limit: more may be waiting


class BatchProjector:
    """Runs projection batches on one connection (statements composed once)."""

    def __init__(
        self, settings: Settings, target: Target = Target(), batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.settings = settings
        self.target = target
        self.batch_size = batch_size
        self._transcoder = OrjsonTranscoder()
        self._topics = list(TENANT_TOPICS)
        self._channel = projected_channel(settings)
        self._build_statements()

    def _build_statements(self) -> None:
        schema = self.settings.db_schema
        tracking = sql.Identifier(schema, TRACKING)
        tenants = sql.Identifier(schema, self.target.tenants)
        purged = sql.Identifier(schema, self.target.purged)
        events = sql.Identifier(schema, EVENTS_TABLE)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        self._sql_ensure = sql.SQL(
            "INSERT INTO {} (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"
        ).format(tracking)
        self._sql_lock = sql.SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE").format(
            tracking
        )
        self._sql_position = sql.SQL("SELECT position FROM {} WHERE name = %s").format(tracking)
        self._sql_scan = sql.SQL(
            "WITH scan AS MATERIALIZED ("
            " SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE notification_id > %(after)s ORDER BY notification_id LIMIT %(limit)s)"
            " SELECT notification_id, originator_id, originator_version, topic, state FROM scan"
            " WHERE topic = ANY(%(topics)s)"
            " UNION ALL SELECT max(notification_id), NULL, count(*), NULL, NULL FROM scan"
        ).format(events)
        self._sql_load = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(cols, tenants)
        unnest = sql.SQL(", ").join(
            sql.SQL("%s::{}").format(sql.SQL(_ARRAY_TYPES.get(c, "text[]"))) for c in COLUMNS
        )
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:]
        )
        self._sql_upsert = sql.SQL(
            "INSERT INTO {} ({}) SELECT * FROM unnest({}) ON CONFLICT (id) DO UPDATE SET {}"
        ).format(tenants, cols, unnest, updates)
        self._sql_delete = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(tenants)
        self._sql_purged = sql.SQL(
            "INSERT INTO {} (id, purged_at) SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])"
            " ON CONFLICT (id) DO NOTHING"
        ).format(purged)
        self._sql_track = sql.SQL(
            "UPDATE {} SET position = %s, updated_at = now(), last_error = NULL,"
            " error_position = NULL WHERE name = %s"
        ).format(tracking)
        self._sql_error = sql.SQL(
            "UPDATE {} SET last_error = %s, error_position = %s WHERE name = %s"
        ).format(tracking)

    def run_batch(self, conn: psycopg.Connection[Any]) -> BatchResult:
        """Project the next batch in one transaction (``conn`` must be in autocommit mode)."""
        with conn.transaction():
            position = self.locked_position(conn)
            return self.project_after(conn, position)

    def position(self, conn: psycopg.Connection[Any]) -> int:
        """The tracked position, without locking (0 before the first batch)."""
        row = conn.execute(self._sql_position, (self.target.tracking,), prepare=True).fetchone()
        return 0 if row is None else int(_first(row))

    def locked_position(self, conn: psycopg.Connection[Any]) -> int:
        """Lock the tracking row (create it at 0 if missing); return its position."""
        name = self.target.tracking
        conn.execute(self._sql_ensure, (name,), prepare=True)
        row = conn.execute(self._sql_lock, (name,), prepare=True).fetchone()
        assert row is not None  # noqa: S101 - ensured just above, in this transaction
        return int(_first(row))

    def project_after(self, conn: psycopg.Connection[Any], position: int) -> BatchResult:
        """Inside an open transaction holding the tracking lock: project one batch."""
        params = {"after": position, "limit": self.batch_size, "topics": self._topics}
        rows = conn.execute(self._sql_scan, params, prepare=True).fetchall()
        sentinel = _values(rows[-1])
        scanned = int(sentinel[2])
        if scanned == 0:
            return BatchResult(0, position, full=False)
        events = [self._decode(_values(r)) for r in rows[:-1]]
        new_position = int(sentinel[0])
        existing = self._load(conn, {e.tenant_id for e in events})
        self._write(conn, fold(events, existing))
        conn.execute(self._sql_track, (new_position, self.target.tracking), prepare=True)
        conn.execute("SELECT pg_notify(%s, %s)", (self._channel, str(new_position)))
        return BatchResult(len(events), new_position, full=scanned >= self.batch_size)

    def record_error(self, conn: psycopg.Connection[Any], error: str, position: int) -> None:
        """Note why progress stopped, for ``projections status`` (own transaction)."""
        conn.execute(self._sql_error, (error[:2000], position, self.target.tracking))

    def _decode(self, values: Sequence[Any]) -> StoredTenantEvent:
        state = self._transcoder.decode(bytes(values[4]))
        return StoredTenantEvent(values[0], values[1], values[2], values[3], state)

    def _load(self, conn: psycopg.Connection[Any], ids: set[UUID]) -> dict[UUID, Row]:
        if not ids:
            return {}
        rows = conn.execute(self._sql_load, (list(ids),), prepare=True).fetchall()
        loaded = (Row.from_mapping(dict(zip(COLUMNS, _values(r), strict=True))) for r in rows)
        return {row.id: row for row in loaded}

    def _write(self, conn: psycopg.Connection[Any], folded: Folded) -> None:
        if folded.rows:
            columns: list[list[Any]] = [[] for _ in COLUMNS]
            for row in folded.rows.values():
                for index, value in enumerate(row.values()):
                    columns[index].append(value)
            metadata = COLUMNS.index("metadata")
            columns[metadata] = [Jsonb(m) for m in columns[metadata]]
            conn.cursor().execute(self._sql_upsert, columns, binary=True)
        if folded.purged:
            ids = list(folded.purged)
            conn.execute(self._sql_delete, (ids,), prepare=True)
            conn.execute(self._sql_purged, (ids, [folded.purged[i] for i in ids]), prepare=True)


def _values(row: Any) -> Sequence[Any]:
    """Row values whatever the connection's row factory (tuples or dicts)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _first(row: Any) -> Any:
    return _values(row)[0]
