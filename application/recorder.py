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
from eventsourcing.persistence import DatabaseError, IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from application.idempotency import Answer, ClaimLost
from common.db import rendered
from common.tables import EVENTS_TABLE, IDEMPOTENCY_TABLE, SNAPSHOTS_TABLE, TOMBSTONES_TABLE

SAVE_FUNCTION = "save_tenant_events"
#: SQLSTATEs the save function raises (class "TR", ours).
PURGED_SQLSTATE = "TRP01"
MOVED_ON_SQLSTATE = "TRC01"
CLAIM_LOST_SQLSTATE = "TRI01"
UNIQUE_VIOLATION = "23505"
_REFUSALS = frozenset((PURGED_SQLSTATE, MOVED_ON_SQLSTATE, CLAIM_LOST_SQLSTATE, UNIQUE_VIOLATION))

# Several saves (a group commit) travel together: every row of every part carries the index of
# its save, and each save runs in its own subtransaction (a BEGIN … EXCEPTION block), so one
# save's conflict, tombstone or lost claim fails that save alone, and reports its SQLSTATE.
# One lock, one commit (one WAL flush), one NOTIFY for them all. Events travel as plain arrays
# rather than an array of the library's composite type: psycopg dumps those in C, where a
# composite array costs tens of microseconds of Python per event. A plpgsql function under
# READ COMMITTED takes a new snapshot per statement, so the checks after the lock see
# everything committed before it was granted.
_ARGS = """
    ev_items int[], ids uuid[], versions bigint[], topics text[], states bytea[],
    sn_items int[], snap_ids uuid[], snap_versions bigint[], snap_topics text[],
    snap_states bytea[],
    ex_items int[], expect_ids uuid[], expect_versions bigint[],
    pu_items int[], purge_tenants uuid[], purge_slugs uuid[], purged_ats timestamptz[],
    an_items int[], an_api_keys text[], an_keys text[], an_leases timestamptz[],
    an_statuses int[], an_bodies bytea[], an_tenants uuid[]
"""
#: One save of a group (rows tagged ``i``): checks, purge, snapshots, answer, then the events,
#: whose positions are the rows it returns; raises with one of our SQLSTATEs when refused. Every
#: optional part sits behind a test of a plain value (``… IS NOT NULL``, ``i = ANY(…)``), which
#: plpgsql evaluates without the executor, so a save pays only for the parts it carries.
_SAVE_ITEM = """
        IF EXISTS (
            SELECT 1 FROM {tombstones} AS p WHERE p.tenant_id IN (
                SELECT x.id FROM unnest(ev_items, ids) AS x (it, id) WHERE x.it = i
                UNION ALL
                SELECT x.id FROM unnest(ex_items, expect_ids) AS x (it, id) WHERE x.it = i
                UNION ALL
                SELECT x.id FROM unnest(an_items, an_tenants) AS x (it, id) WHERE x.it = i)
        ) THEN
            RAISE EXCEPTION 'originator was purged' USING ERRCODE = {purged};
        END IF;
        IF ex_items IS NOT NULL AND i = ANY(ex_items) THEN
            IF EXISTS (
                SELECT 1 FROM unnest(ex_items, expect_ids, expect_versions)
                    AS x (it, id, version)
                WHERE x.it = i AND x.version <> coalesce(
                    (SELECT max(e.originator_version) FROM {events} AS e
                     WHERE e.originator_id = x.id), 0)
            ) THEN
                RAISE EXCEPTION 'aggregate moved on' USING ERRCODE = {moved_on};
            END IF;
        END IF;
        IF pu_items IS NOT NULL AND i = ANY(pu_items) THEN
            DELETE FROM {events} WHERE originator_id IN (
                SELECT unnest(ARRAY[x.t, x.s])
                FROM unnest(pu_items, purge_tenants, purge_slugs) AS x (it, t, s)
                WHERE x.it = i);
            DELETE FROM {snapshots} WHERE originator_id IN (
                SELECT unnest(ARRAY[x.t, x.s])
                FROM unnest(pu_items, purge_tenants, purge_slugs) AS x (it, t, s)
                WHERE x.it = i);
            DELETE FROM {idempotency} WHERE tenant_id IN (
                SELECT x.t FROM unnest(pu_items, purge_tenants) AS x (it, t) WHERE x.it = i);
            INSERT INTO {tombstones} (tenant_id, purged_at)
                SELECT x.t, x.at
                FROM unnest(pu_items, purge_tenants, purged_ats) AS x (it, t, at)
                WHERE x.it = i
                ON CONFLICT DO NOTHING;
        END IF;
        IF sn_items IS NOT NULL AND i = ANY(sn_items) THEN
            INSERT INTO {snapshots} (originator_id, originator_version, topic, state)
                SELECT x.id, x.version, x.topic, x.state
                FROM unnest(sn_items, snap_ids, snap_versions, snap_topics, snap_states)
                    AS x (it, id, version, topic, state)
                WHERE x.it = i
                ON CONFLICT DO NOTHING;
        END IF;
        IF an_items IS NOT NULL AND i = ANY(an_items) THEN
            UPDATE {idempotency} AS r SET state = 'done', status_code = x.status,
                response = x.body, tenant_id = x.tenant
            FROM unnest(an_items, an_api_keys, an_keys, an_leases, an_statuses, an_bodies,
                        an_tenants) AS x (it, api_key, key, lease, status, body, tenant)
            WHERE x.it = i AND r.api_key = x.api_key AND r.key = x.key
                AND r.state = 'running' AND r.lease_until = x.lease;
            GET DIAGNOSTICS answered = ROW_COUNT;
            IF answered = 0 THEN
                RAISE EXCEPTION 'idempotency claim lost' USING ERRCODE = {claim_lost};
            END IF;
        END IF;
        written := 0;
        IF ids IS NOT NULL THEN
            RETURN QUERY
                INSERT INTO {events} (originator_id, originator_version, topic, state)
                SELECT x.id, x.version, x.topic, x.state
                FROM unnest(ev_items, ids, versions, topics, states)
                    AS x (it, id, version, topic, state)
                WHERE x.it = i
                RETURNING i, notification_id, NULL::text;
            GET DIAGNOSTICS written = ROW_COUNT;
        END IF;
        IF written = 0 THEN
            item := i;
            pos := NULL;
            failure := NULL;
            RETURN NEXT;
        END IF;
"""
#: The commonest save of all, alone in its group with events and nothing else (a command
#: without an idempotency key, between snapshots): two statements with one plan node each
#: where the general item runs five (about 40 us less of PostgreSQL per save).
_SAVE_EVENTS_ONLY = """
        IF EXISTS (SELECT 1 FROM {tombstones} AS p WHERE p.tenant_id = ANY(ids)) THEN
            RAISE EXCEPTION 'originator was purged' USING ERRCODE = {purged};
        END IF;
        RETURN QUERY
            INSERT INTO {events} (originator_id, originator_version, topic, state)
            SELECT x.id, x.version, x.topic, x.state
            FROM unnest(ids, versions, topics, states) AS x (id, version, topic, state)
            RETURNING 1, notification_id, NULL::text;
"""
#: A group of saves under one lock, one commit and one NOTIFY. A group of one runs its save
#: directly (a refusal fails the statement, which the caller reads); a larger group runs each
#: in a subtransaction and reports each refusal's SQLSTATE as a row. Generic plans: a custom
#: plan of a statement over NULL arrays looks cheaper, so the planner would plan every call.
SAVE_FUNCTION_BODY = """
CREATE OR REPLACE FUNCTION {function}(n int, {args})
RETURNS TABLE (item int, pos bigint, failure text) LANGUAGE plpgsql
SET lock_timeout = {lock_timeout} SET plan_cache_mode = force_generic_plan AS $body$
DECLARE
    i int;
    written bigint;
    answered int;
BEGIN
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    IF n = 1 AND ids IS NOT NULL AND sn_items IS NULL AND ex_items IS NULL
            AND pu_items IS NULL AND an_items IS NULL THEN
{events_only}
    ELSIF n = 1 THEN
        i := 1;
{save_item}
    ELSE
        FOR i IN 1..n LOOP
            BEGIN
{save_item}
            EXCEPTION WHEN OTHERS THEN
                item := i;
                pos := NULL;
                failure := SQLSTATE;
                RETURN NEXT;
            END;
        END LOOP;
    END IF;
    IF ids IS NOT NULL THEN
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
        self._sql_save = rendered(
            sql.SQL(
                "SELECT item, pos, failure FROM {}(%s::int,"
                " %s::int[], %s::uuid[], %s::bigint[], %s::text[], %s::bytea[],"
                " %s::int[], %s::uuid[], %s::bigint[], %s::text[], %s::bytea[],"
                " %s::int[], %s::uuid[], %s::bigint[],"
                " %s::int[], %s::uuid[], %s::uuid[], %s::timestamptz[],"
                " %s::int[], %s::text[], %s::text[], %s::timestamptz[], %s::int[], %s::bytea[],"
                " %s::uuid[])"
            ).format(sql.Identifier(schema, SAVE_FUNCTION))
        )
        #: Save functions of earlier releases (other signatures), dropped by ``migrate``.
        self.sql_drop_old_save_functions = [
            sql.SQL("DROP FUNCTION IF EXISTS {}({})").format(
                sql.Identifier(schema, name), sql.SQL(signature)
            )
            for name, signature in _OLD_SAVE_FUNCTIONS
        ]
        names = {
            "function": sql.Identifier(schema, SAVE_FUNCTION),
            "events": events,
            "snapshots": snapshots,
            "tombstones": tombstones,
            "idempotency": sql.Identifier(schema, IDEMPOTENCY_TABLE),
            "lock_timeout": sql.Literal(f"{datastore.lock_timeout}s"),
            "channel": sql.Literal(self.channel_name),
            "purged": sql.Literal(PURGED_SQLSTATE),
            "moved_on": sql.Literal(MOVED_ON_SQLSTATE),
            "claim_lost": sql.Literal(CLAIM_LOST_SQLSTATE),
            "args": sql.SQL(_ARGS),
        }
        #: What ``migrate`` runs to create the save function.
        save_item = sql.SQL(_SAVE_ITEM).format(**names)
        events_only = sql.SQL(_SAVE_EVENTS_ONLY).format(**names)
        self.sql_create_save_functions = [
            sql.SQL(SAVE_FUNCTION_BODY).format(
                save_item=save_item, events_only=events_only, **names
            )
        ]

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
        (outcome,) = self.save_many([save])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def save_many(self, saves: Sequence[Save]) -> list[list[int] | Exception]:
        """Write several saves in one transaction (one flush); each succeeds or fails alone.

        Returns, per save, its positions or the named error that refused it. An error of the
        whole statement (the database is gone, the lock timed out) is raised for all.
        """
        outcomes: list[list[int] | Exception] = [[] for _ in saves]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                curs.execute(self._sql_save, _params(saves), prepare=True)
            except psycopg.DatabaseError as exc:
                # A group of one runs without a subtransaction: its refusal fails the statement.
                if len(saves) == 1 and exc.sqlstate in _REFUSALS:
                    return [_named(exc.sqlstate, saves[0])]
                raise
            for row in curs.fetchall():
                index = row["item"] - 1
                outcome = outcomes[index]
                if row["failure"] is not None:
                    outcomes[index] = _named(row["failure"], saves[index])
                elif row["pos"] is not None and isinstance(outcome, list):
                    outcome.append(row["pos"])
        return outcomes

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


def _stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


#: ``(name, argument types)`` of the save functions earlier releases created.
_OLD_SAVE_FUNCTIONS = (
    ("save_events", "uuid[], bigint[], text[], bytea[], uuid[], bigint[], text[], bytea[]"),
    (
        SAVE_FUNCTION,
        "uuid[], bigint[], text[], bytea[], uuid[], bigint[], text[], bytea[], uuid[],"
        " bigint[], uuid[], timestamptz, text, text, timestamptz, int, bytea, uuid",
    ),
    (
        "save_tenant_events_item",
        "int, int[], uuid[], bigint[], text[], bytea[], int[], uuid[], bigint[], text[], bytea[],"
        " int[], uuid[], bigint[], int[], uuid[], uuid[], timestamptz[], int[], text[], text[],"
        " timestamptz[], int[], bytea[], uuid[]",
    ),
)


def _params(saves: Sequence[Save]) -> tuple[Any, ...]:
    """The save function's arrays: every row of every part, tagged with its save's index."""
    ev: list[tuple[Any, ...]] = []
    sn: list[tuple[Any, ...]] = []
    ex: list[tuple[Any, ...]] = []
    pu: list[tuple[Any, ...]] = []
    an: list[tuple[Any, ...]] = []
    for item, save in enumerate(saves, start=1):
        ev.extend((item, *_row(e)) for e in save.events)
        sn.extend((item, *_row(e)) for e in save.snapshots)
        ex.extend((item, i, v) for i, v in save.expected)
        if save.purge is not None:
            p = save.purge
            pu.append((item, p.tenant_id, p.slug_index_id, p.purged_at))
        if save.answer is not None:
            a, c = save.answer, save.answer.claim
            an.append((item, c.api_key, c.key, c.lease_until, a.status_code, a.body, a.tenant_id))
    return (
        len(saves),
        *_event_columns(ev),
        *_event_columns(sn),
        *_columns(ex, 3),
        *_columns(pu, 4),
        *_columns(an, 7),
    )


def _row(event: StoredEvent) -> tuple[Any, ...]:
    return (event.originator_id, event.originator_version, event.topic, event.state)


def _event_columns(rows: list[tuple[Any, ...]]) -> list[str | None]:
    """Rows of ``(item, id, version, topic, state)`` as five PostgreSQL array literals.

    Every save carries these; psycopg's list dumper costs about 10 us of Python per list
    (finding the element type, then each element), a literal built here about 1 us. The
    function's parameters are cast from text (``%s::uuid[]``, …), so PostgreSQL parses them.
    """
    if not rows:
        return [None] * 5
    items, ids, versions, topics, states = zip(*rows, strict=True)
    return [
        "{" + ",".join(map(str, items)) + "}",
        "{" + ",".join(map(str, ids)) + "}",
        "{" + ",".join(map(str, versions)) + "}",
        "{" + ",".join(map(_text_element, topics)) + "}",
        "{" + ",".join(map(_bytea_element, states)) + "}",
    ]


def _text_element(value: str) -> str:
    """A quoted array element: backslash and double quote escaped, the rest as is."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bytea_element(value: bytes) -> str:
    """A quoted array element holding bytea's hex input (``\\x…``, its backslash escaped)."""
    return '"\\\\x' + value.hex() + '"'


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any] | None]:
    """Rows as ``width`` column lists, or NULLs when there are none: most saves carry no
    expectation, purge or answer, and psycopg dumps a NULL for free where each list costs
    tens of microseconds of Python (the function reads NULL arrays as empty)."""
    if not rows:
        return [None] * width
    return [list(column) for column in zip(*rows, strict=True)]


def _named(sqlstate: str, save: Save) -> Exception:
    """A refused save as one of the three named signals (or a database error naming its
    SQLSTATE)."""
    if sqlstate == PURGED_SQLSTATE:
        ids: set[UUID | str] = {e.originator_id for e in save.events}
        ids.update(i for i, _ in save.expected)
        return OriginatorPurged(ids)
    if sqlstate in (MOVED_ON_SQLSTATE, UNIQUE_VIOLATION):
        return IntegrityError(f"conflict ({sqlstate})")
    if sqlstate == CLAIM_LOST_SQLSTATE:
        return ClaimLost()
    return DatabaseError(f"save refused by the database (SQLSTATE {sqlstate})")
