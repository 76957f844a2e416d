"""What the event store already knows about a batch of rows being imported.

An import is idempotent by id and resumable because it asks the store, a batch at a time:
which of these tenants exist already, which were purged, and who holds these slugs. Three
statements per batch at most, whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from application.registry import TenantRegistry
from common.tables import EVENTS_TABLE, TOMBSTONES_TABLE
from domain.slug_index import SlugIndex
from domain.tenant import Tenant


@dataclass(frozen=True)
class Known:
    """The store's answer for a batch."""

    existing: frozenset[UUID]  # tenant ids with events
    purged: frozenset[UUID]  # tenant ids with a tombstone
    holders: dict[str, UUID]  # slug -> tenant holding it (only slugs that are taken)
    imported: frozenset[UUID]  # holders that came in by an import


class StoreLookup:
    """Batch queries against the registry's event store (statements composed once)."""

    def __init__(self, registry: TenantRegistry) -> None:
        self._registry = registry
        schema = registry.settings.db_schema
        events = sql.Identifier(schema, EVENTS_TABLE)
        self._sql_first = sql.SQL(
            "SELECT originator_id, topic, state FROM {}"
            " WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(events)
        self._sql_purged = sql.SQL("SELECT tenant_id FROM {} WHERE tenant_id = ANY(%s)").format(
            sql.Identifier(schema, TOMBSTONES_TABLE)
        )

    def known(self, tenant_ids: Sequence[UUID], slugs: Sequence[str]) -> Known:
        """Which of ``tenant_ids`` exist or were purged, and who holds which of ``slugs``."""
        slug_of = {SlugIndex.id_for(s): s for s in slugs}
        first = self._first_events([*tenant_ids, *slug_of])
        existing = frozenset(i for i in tenant_ids if i in first)
        mapper = self._registry.mapper
        holders: dict[str, UUID] = {}
        for index_id, slug in slug_of.items():
            stored = first.get(index_id)
            if stored is not None:
                claim = mapper.to_domain_event(stored)
                holders[slug] = claim.tenant_id  # type: ignore[attr-defined]
        unseen = [h for h in set(holders.values()) if h not in first]
        first.update(self._first_events(unseen))
        imported = frozenset(
            h for h in holders.values() if h in first and first[h].topic == _IMPORTED
        )
        return Known(existing, self._purged(tenant_ids), holders, imported)

    def _first_events(self, ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        if not ids:
            return {}
        with self._connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_first, (list(ids),), prepare=True)
            rows = curs.fetchall()
        return {
            r["originator_id"]: StoredEvent(r["originator_id"], 1, r["topic"], bytes(r["state"]))
            for r in rows
        }

    def _purged(self, ids: Sequence[UUID]) -> frozenset[UUID]:
        with self._connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_purged, (list(ids),), prepare=True)
            return frozenset(r["tenant_id"] for r in curs.fetchall())

    def _connection(self) -> Any:
        return self._registry.tenant_recorder.datastore.get_connection()


_IMPORTED = Tenant.Imported.TOPIC
