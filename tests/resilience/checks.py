"""What the resilience tests check after the dust settles, straight from the database.

* :func:`store_counts`: a fingerprint of everything written (event store head and size, and the
  other tables), to prove a refused request wrote nothing.
* :func:`read_side_differences`: the read table against a replay of every aggregate, field by
  field, plus the ids on both sides (no duplicate, missing or extra row).
* :func:`sweep_repeats`: histories in which a sweep transition happened twice in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from application.events import RecordedEvent
from application.registry import TenantRegistry
from common.settings import Settings
from common.tables import EVENTS_TABLE, IDEMPOTENCY_TABLE, TOMBSTONES_TABLE
from domain.tenant import TENANT_TOPICS, Tenant
from projections.models import TenantRow
from projections.schema import COLUMNS, TENANTS, TRACKING

REGISTERED_TOPIC = TENANT_TOPICS["TenantRegistered"]


@dataclass(frozen=True)
class StoreCounts:
    """How much is stored: equal before and after means nothing was written."""

    head: int
    events: int
    idempotency_records: int
    tombstones: int
    read_rows: int


def _one(conn: psycopg.Connection[Any], query: sql.Composed, *params: Any) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _counts_query(settings: Settings) -> sql.Composed:
    def table(name: str) -> sql.Identifier:
        return sql.Identifier(settings.db_schema, name)

    return sql.SQL(
        "SELECT (SELECT coalesce(max(notification_id), 0) FROM {e}), (SELECT count(*) FROM {e}),"
        " (SELECT count(*) FROM {i}), (SELECT count(*) FROM {t}), (SELECT count(*) FROM {r})"
    ).format(
        e=table(EVENTS_TABLE),
        i=table(IDEMPOTENCY_TABLE),
        t=table(TOMBSTONES_TABLE),
        r=table(TENANTS),
    )


def store_counts(settings: Settings, conn: psycopg.Connection[Any] | None = None) -> StoreCounts:
    """The sizes of the store, the idempotency records and the read table (on ``conn`` if
    given, else on a connection of its own)."""
    if conn is None:
        with psycopg.connect(settings.database_url, autocommit=True) as own:
            return store_counts(settings, own)
    row = conn.execute(_counts_query(settings)).fetchone()
    assert row is not None
    return StoreCounts(*(int(value) for value in row))


def projected_position(settings: Settings) -> int:
    """How far the ``tenants`` projection has got."""
    with psycopg.connect(settings.database_url) as conn:
        query = sql.SQL("SELECT position FROM {} WHERE name = %s").format(
            sql.Identifier(settings.db_schema, TRACKING)
        )
        return _one(conn, query, TENANTS)


def registered_ids(settings: Settings) -> list[UUID]:
    """Every tenant whose registration is still in the store (purged ones are not)."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT originator_id FROM {} WHERE topic = %s").format(
                sql.Identifier(settings.db_schema, EVENTS_TABLE)
            ),
            (REGISTERED_TOPIC,),
        ).fetchall()
    return [row[0] for row in rows]


def read_rows(settings: Settings) -> list[TenantRow]:
    """Every row of the read table (duplicates included, if there were any)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    query = sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier(settings.db_schema, TENANTS))
    with (
        psycopg.connect(settings.database_url) as conn,
        conn.cursor(row_factory=class_row(TenantRow)) as cur,
    ):
        return cur.execute(query).fetchall()


def _row_of(tenant: Tenant) -> dict[str, Any]:
    values = {f.name: getattr(tenant, f.name) for f in fields(TenantRow)}
    values["status"] = tenant.status.value
    return values


def read_side_differences(settings: Settings, registry: TenantRegistry) -> list[str]:
    """Every way the read table differs from a replay of the aggregates (empty: identical)."""
    rows = read_rows(settings)
    problems: list[str] = []
    by_id: dict[UUID, TenantRow] = {}
    for row in rows:
        if row.id in by_id:
            problems.append(f"{row.id}: duplicate row")
        by_id[row.id] = row
    live = registered_ids(settings)
    for extra in sorted(set(by_id) - set(live)):
        problems.append(f"{extra}: row without a tenant in the store")
    for tenant_id in live:
        found = by_id.get(tenant_id)
        if found is None:
            problems.append(f"{tenant_id}: missing row")
            continue
        expected = _row_of(registry.get_tenant(tenant_id))
        for name, value in expected.items():
            if getattr(found, name) != value:
                problems.append(f"{tenant_id}.{name}: row {getattr(found, name)!r} != {value!r}")
    return problems


#: The sweep transitions, and the events that make each one possible again.
_REENTRY = {
    "TenantTrialExpired": frozenset(),  # a trial never comes back
    "TenantGraceExpired": frozenset(("TenantGracePeriodStarted", "TenantTrialExpired")),
    "TenantPurged": frozenset(),
}


def sweep_repeats(history: list[RecordedEvent]) -> list[str]:
    """Sweep transitions that happened again without the tenant re-entering their state."""
    problems: list[str] = []
    armed = dict.fromkeys(_REENTRY, True)
    for event in history:
        for kind, reentry in _REENTRY.items():
            if event.type in reentry:
                armed[kind] = True
        if event.type in _REENTRY:
            if not armed[event.type]:
                problems.append(f"{event.tenant_id}: {event.type} again at v{event.version}")
            armed[event.type] = False
    return problems
