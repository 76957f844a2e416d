"""The event-store recorder: every save, whatever it carries, is one statement and one commit.

A save of ours may carry, beside the events: a snapshot, the idempotency answer of the request
that caused it, a purge (delete the tenant's events, snapshots and idempotency records and leave
a tombstone), and the versions the aggregates must still be at (a purge, or an answer recorded
for a command that changed nothing, was decided on those). A command, a batch, a sweep page,
a purge and an idempotency answer alone all take this one path: a server function that holds
the library's ``LOCK TABLE … IN EXCLUSIVE MODE`` (notification ids commit in order, and a
purge and any write to the same tenant run one after the other), refuses originators that have
a tombstone, checks the expected versions, and notifies once if it wrote events.

Failures come back as three named signals: ``IntegrityError`` (the library's: a version is
taken or an aggregate moved on), :class:`OriginatorPurged`, and :class:`ClaimLost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from application.idempotency import Answer, ClaimLost
from common.tables import EVENTS_TABLE, IDEMPOTENCY_TABLE, SNAPSHOTS_TABLE, TOMBSTONES_TABLE

SAVE_FUNCTION = "save_tenant_events"
#: SQLSTATEs the save function raises (class "TR", ours).
PURGED_SQLSTATE = "TRP01"
MOVED_ON_SQLSTATE = "TRC01"
CLAIM_LOST_SQLSTATE = "TRI01"

# Events travel as four plain arrays rather than an array of the library's composite type:
# psycopg dumps those in C, where a composite array costs tens of microseconds of Python per
# event. A plpgsql function under READ COMMITTED takes a new snapshot per statement, so the
# checks after the lock see everything committed before it was granted.
SAVE_FUNCTION_BODY = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    snap_ids uuid[], snap_versions bigint[], snap_topics text[], snap_states bytea[],
    expect_ids uuid[], expect_versions bigint[],
    purge_ids uuid[], purged_at timestamptz,
    answer_api_key text, answer_key text, answer_lease timestamptz,
    answer_status int, answer_body bytea, answer_tenant uuid
)
RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM set_config('lock_timeout', {lock_timeout}, true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    IF EXISTS (
        SELECT 1 FROM {tombstones} AS p
        WHERE p.tenant_id = ANY(ids || expect_ids || answer_tenant)
    ) THEN
        RAISE EXCEPTION 'originator was purged' USING ERRCODE = {purged};
    END IF;
    IF EXISTS (
        SELECT 1 FROM unnest(expect_ids, expect_versions) AS x (id, version)
        WHERE x.version <> coalesce(
            (SELECT max(e.originator_version) FROM {events} AS e WHERE e.originator_id = x.id),
            0)
    ) THEN
        RAISE EXCEPTION 'aggregate moved on' USING ERRCODE = {moved_on};
    END IF;
    IF cardinality(purge_ids) > 0 THEN
        DELETE FROM {events} WHERE originator_id = ANY(purge_ids);
        DELETE FROM {snapshots} WHERE originator_id = ANY(purge_ids);
        DELETE FROM {idempotency} WHERE tenant_id = ANY(purge_ids);
        INSERT INTO {tombstones} (tenant_id, purged_at) VALUES (purge_ids[1], purged_at)
            ON CONFLICT DO NOTHING;
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
    IF answer_key IS NOT NULL THEN
        UPDATE {idempotency} SET state = 'done', status_code = answer_status,
            response = answer_body, tenant_id = answer_tenant
        WHERE api_key = answer_api_key AND key = answer_key AND state = 'running'
            AND lease_until = answer_lease;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'idempotency claim lost' USING ERRCODE = {claim_lost};
        END IF;
    END IF;
    IF cardinality(ids) > 0 THEN
        PERFORM pg_notify({channel}, '');
    END IF;
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


@dataclass(frozen=True)
class Save:
    """Everything one transaction writes (each part optional)."""

    events: Sequence[StoredEvent] = ()
    snapshots: Sequence[StoredEvent] = ()
    #: ``(aggregate id, version)`` pairs the store must still hold as the latest versions.
    expected: Sequence[tuple[UUID, int]] = field(default_factory=tuple)
    purge: Purge | None = None
    answer: Answer | None = None


class TenantRecorder(PostgresApplicationRecorder):
    """Application recorder whose every write goes through :meth:`save`."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = datastore.schema
        events = sql.Identifier(schema, events_table_name)
        snapshots = sql.Identifier(schema, SNAPSHOTS_TABLE)
        tombstones = sql.Identifier(schema, TOMBSTONES_TABLE)
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
        self._sql_save = sql.SQL(
            "SELECT id FROM {}(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[],"
            " %s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::uuid[], %s::bigint[],"
            " %s::uuid[], %s::timestamptz, %s::text, %s::text, %s::timestamptz, %s::int,"
            " %s::bytea, %s::uuid) AS id"
        ).format(sql.Identifier(schema, SAVE_FUNCTION))
        self.sql_create_save_function = sql.SQL(SAVE_FUNCTION_BODY).format(
            function=sql.Identifier(schema, SAVE_FUNCTION),
            events=events,
            snapshots=snapshots,
            tombstones=tombstones,
            idempotency=sql.Identifier(schema, IDEMPOTENCY_TABLE),
            lock_timeout=sql.Literal(f"{datastore.lock_timeout}s"),
            channel=sql.Literal(self.channel_name),
            purged=sql.Literal(PURGED_SQLSTATE),
            moved_on=sql.Literal(MOVED_ON_SQLSTATE),
            claim_lost=sql.Literal(CLAIM_LOST_SQLSTATE),
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's entry point (``Application.save``), on the one save path."""
        return self.save(Save(events=stored_events, snapshots=kwargs.get("snapshots", ())))

    def save(self, save: Save) -> list[int]:
        """Write everything in ``save`` in one round trip; return the events' positions.

        Not retried on connection errors: after a lost connection the commit may or may not
        have happened, and only the caller can decide whether repeating is safe.
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                curs.execute(self._sql_save, self._params(save), prepare=True)
            except psycopg.DatabaseError as exc:
                raise _named(exc, save) from None
            return [row["id"] for row in curs.fetchall()]

    def _params(self, save: Save) -> tuple[Any, ...]:
        purge, answer = save.purge, save.answer
        purge_ids = [] if purge is None else [purge.tenant_id, purge.slug_index_id]
        answer_fields: tuple[Any, ...] = (None,) * 6
        if answer is not None:
            claim = answer.claim
            answer_fields = (
                claim.api_key,
                claim.key,
                claim.lease_until,
                answer.status_code,
                answer.body,
                answer.tenant_id,
            )
        return (
            *self._columns(save.events),
            *self._columns(save.snapshots),
            [i for i, _ in save.expected],
            [v for _, v in save.expected],
            purge_ids,
            None if purge is None else purge.purged_at,
            *answer_fields,
        )

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


def _named(exc: psycopg.DatabaseError, save: Save) -> Exception:
    """The save's failure as one of its three named signals (or the database error as is)."""
    if exc.sqlstate == PURGED_SQLSTATE:
        ids: set[UUID | str] = {e.originator_id for e in save.events}
        ids.update(i for i, _ in save.expected)
        return OriginatorPurged(ids)
    if exc.sqlstate == MOVED_ON_SQLSTATE:
        return IntegrityError(str(exc))
    if exc.sqlstate == CLAIM_LOST_SQLSTATE:
        return ClaimLost()
    return exc
