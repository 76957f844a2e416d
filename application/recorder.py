"""The event-store recorder: one transaction per save, with everything that must go with it.

The stock recorder only inserts events. A save of ours may also have to record a snapshot,
an idempotency response, or a purge (delete the tenant's events, snapshots and idempotency
records and leave a tombstone). All of it commits in the one transaction that holds the
library's ``LOCK TABLE … IN EXCLUSIVE MODE``, so notification ids still commit in order, and a
write can never slip in after a purge: the insert refuses originators that have a tombstone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from common.tables import EVENTS_TABLE, IDEMPOTENCY_TABLE, SNAPSHOTS_TABLE, TOMBSTONES_TABLE

Statement = tuple[sql.Composed, Sequence[Any]]

SAVE_FUNCTION = "save_events"
#: SQLSTATE the save function raises when an originator has a tombstone (class "TR", ours).
PURGED_SQLSTATE = "TRP01"

# One statement per save: the same table lock as the library (notification ids commit in
# order), the tombstone check, the insert, the snapshot, and the notification. Events travel
# as four plain arrays rather than an array of the library's composite type: psycopg dumps
# those in C, where a composite array costs tens of microseconds of Python per event.
SAVE_FUNCTION_BODY = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    snap_ids uuid[], snap_versions bigint[], snap_topics text[], snap_states bytea[]
)
RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM set_config('lock_timeout', {lock_timeout}, true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM {tombstones} AS p WHERE p.tenant_id = ANY(ids)) THEN
        RAISE EXCEPTION 'originator was purged' USING ERRCODE = {purged};
    END IF;
    RETURN QUERY
        INSERT INTO {events} (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
    IF cardinality(snap_ids) > 0 THEN
        INSERT INTO {snapshots} (originator_id, originator_version, topic, state)
            SELECT * FROM unnest(snap_ids, snap_versions, snap_topics, snap_states)
            ON CONFLICT DO NOTHING;
    END IF;
    PERFORM pg_notify({channel}, '');
END
$body$
"""


class OriginatorPurged(Exception):
    """A write for an aggregate that has been purged was refused."""

    def __init__(self, originator_ids: set[UUID | str]) -> None:
        self.originator_ids = originator_ids
        super().__init__(f"purged: {sorted(map(str, originator_ids))}")


@dataclass(frozen=True)
class Purge:
    """What a purge erases: the tenant's aggregate and its slug index entry."""

    tenant_id: UUID
    slug_index_id: UUID
    purged_at: datetime


class TenantRecorder(PostgresApplicationRecorder):
    """Application recorder with snapshots, purges and extra statements in the same commit."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = datastore.schema
        events = sql.Identifier(schema, events_table_name)
        snapshots = sql.Identifier(schema, SNAPSHOTS_TABLE)
        tombstones = sql.Identifier(schema, TOMBSTONES_TABLE)
        idempotency = sql.Identifier(schema, IDEMPOTENCY_TABLE)
        self._sql_insert_guarded = sql.SQL(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "AS e (originator_id, originator_version, topic, state) "
            "WHERE NOT EXISTS (SELECT 1 FROM {tombstones} p WHERE p.tenant_id = e.originator_id) "
            "RETURNING notification_id"
        ).format(events=events, tombstones=tombstones)
        self._sql_insert_snapshots = sql.SQL(
            "INSERT INTO {snapshots} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "ON CONFLICT DO NOTHING"
        ).format(snapshots=snapshots)
        self._sql_purge = [
            sql.SQL("DELETE FROM {} WHERE originator_id = ANY(%s)").format(events),
            sql.SQL("DELETE FROM {} WHERE originator_id = ANY(%s)").format(snapshots),
            sql.SQL("DELETE FROM {} WHERE tenant_id = ANY(%s)").format(idempotency),
        ]
        self._sql_tombstone = sql.SQL(
            "INSERT INTO {} (tenant_id, purged_at) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(tombstones)
        self._sql_purged_at = sql.SQL("SELECT purged_at FROM {} WHERE tenant_id = %s").format(
            tombstones
        )
        self._sql_latest_snapshots = sql.SQL(
            "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state"
            " FROM {} WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC"
        ).format(snapshots)
        self._sql_events_after = sql.SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS t (id, after)"
            " JOIN {} AS e ON e.originator_id = t.id AND e.originator_version > t.after"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(events)
        self._sql_notify = sql.SQL("NOTIFY {}").format(sql.Identifier(self.channel_name))
        self._sql_save = sql.SQL(
            "SELECT id FROM {}(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[],"
            " %s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) AS id"
        ).format(sql.Identifier(schema, SAVE_FUNCTION))
        self.sql_create_save_function = sql.SQL(SAVE_FUNCTION_BODY).format(
            function=sql.Identifier(schema, SAVE_FUNCTION),
            events=events,
            snapshots=snapshots,
            tombstones=tombstones,
            lock_timeout=sql.Literal(f"{datastore.lock_timeout}s"),
            channel=sql.Literal(self.channel_name),
            purged=sql.Literal(PURGED_SQLSTATE),
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert events (and what goes with them) in one transaction; return their positions.

        Not retried on connection errors: after a lost connection the commit may or may not
        have happened, and only the caller can decide whether repeating is safe.
        """
        purge: Purge | None = kwargs.get("purge")
        snapshots: Sequence[StoredEvent] = kwargs.get("snapshots", ())
        extra: Sequence[Statement] = kwargs.get("extra_statements", ())
        if purge is None and not extra:
            return self._save_in_one_statement(stored_events, snapshots)
        with self.datastore.get_connection() as conn:
            exc: Exception | None = None
            ids: list[int] = []
            with conn.pipeline() as pipeline:
                try:
                    with conn.transaction():
                        curs = conn.cursor()
                        self._lock_table(curs)
                        if purge is not None:
                            erased = [purge.tenant_id, purge.slug_index_id]
                            for statement in self._sql_purge:
                                curs.execute(statement, (erased,), prepare=True)
                        curs.execute(self._sql_insert_guarded, self._columns(stored_events))
                        pipeline.sync()
                        ids = [row["notification_id"] for row in curs.fetchall()]
                        if len(ids) != len(stored_events):
                            purged = {e.originator_id for e in stored_events}
                            raise OriginatorPurged(purged)  # noqa: TRY301 - rolls back
                        if purge is not None:
                            curs.execute(self._sql_tombstone, (purge.tenant_id, purge.purged_at))
                        if snapshots:
                            curs.execute(self._sql_insert_snapshots, self._columns(snapshots))
                        for statement, params in extra:
                            curs.execute(statement, params)
                        curs.execute(self._sql_notify)
                except Exception as e:  # re-raised once the pipeline is closed
                    exc = e
            if exc is not None:
                raise exc
        return ids

    def _save_in_one_statement(
        self, stored_events: Sequence[StoredEvent], snapshots: Sequence[StoredEvent]
    ) -> list[int]:
        """The common case in one round trip: a server function locks, checks, inserts."""
        params = (*self._columns(stored_events), *self._columns(snapshots))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                curs.execute(self._sql_save, params, prepare=True)
            except psycopg.DatabaseError as exc:
                if exc.sqlstate == PURGED_SQLSTATE:
                    raise OriginatorPurged({e.originator_id for e in stored_events}) from None
                raise
            return [row["id"] for row in curs.fetchall()]

    def select_current(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """For many aggregates at once: the latest snapshot (if any) and the events after it.

        Two statements on one connection, whatever the number of aggregates (a sweep loads a
        page of tenants this way instead of two round trips per tenant). Aggregates with no
        stored events are absent from the result.
        """
        ids = list(originator_ids)
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_latest_snapshots, (ids,), prepare=True)
            for row in curs.fetchall():
                found[row["originator_id"]] = [_stored(row)]
            after = [found[i][0].originator_version if i in found else 0 for i in ids]
            curs.execute(self._sql_events_after, (ids, after), prepare=True)
            for row in curs.fetchall():
                found.setdefault(row["originator_id"], []).append(_stored(row))
        return found

    def purged_at(self, originator_id: UUID) -> datetime | None:
        """When the aggregate was purged, or None if it never was."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_purged_at, (originator_id,))
            row = curs.fetchone()
            return None if row is None else cast(datetime, row["purged_at"])

    @staticmethod
    def _columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
        """Ids, versions, topics and states as four lists (the save's array parameters)."""
        return (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )


def _stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )
