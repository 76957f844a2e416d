"""Stored events as the outside world sees them: history of one tenant and the global feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from psycopg import sql

from application.recorder import TenantRecorder
from domain.evolution import upcast
from domain.tenant import TENANT_EVENT_CLASSES, TENANT_TOPICS, event_type

_HIDDEN = frozenset(
    (
        "originator_id",
        "originator_version",
        "timestamp",
        "actor",
        "reason",
        "correlation_id",
        "originator_topic",
        "class_version",
    )
)

_CLASSES = {c.TOPIC: c for c in TENANT_EVENT_CLASSES}


@dataclass(frozen=True)
class RecordedEvent:
    """One event of a tenant's history, with its global position."""

    position: int
    tenant_id: UUID
    version: int
    type: str
    occurred_at: datetime
    actor: str
    reason: str | None
    data: dict[str, Any]
    #: The request, sweep run or CLI invocation that caused it (None for version 1 events).
    correlation_id: str | None = None


class EventReader:
    """Reads history and the feed straight from the event store, with positions."""

    def __init__(self, recorder: TenantRecorder, mapper: Mapper[UUID]) -> None:
        self._recorder = recorder
        self._mapper = mapper
        events = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        columns = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        ).format(events)
        self._sql_history = columns + sql.SQL(
            "WHERE originator_id = %s AND topic = ANY(%s) ORDER BY originator_version"
        )
        self._sql_feed = columns + sql.SQL(
            "WHERE notification_id > %s AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
        )
        self._sql_head = sql.SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}").format(
            events
        )
        self._all_topics = list(TENANT_TOPICS.values())

    def history(self, tenant_id: UUID) -> list[RecordedEvent]:
        """Every stored event of one tenant, in version order."""
        return self._select(self._sql_history, (tenant_id, self._all_topics))

    def feed(self, after: int, limit: int, types: Sequence[str] = ()) -> list[RecordedEvent]:
        """Tenant events after position ``after``, in position order (positions have gaps)."""
        topics = [TENANT_TOPICS[t] for t in types] if types else self._all_topics
        return self._select(self._sql_feed, (after, topics, limit))

    def head(self) -> int:
        """The highest position in the store (0 when empty)."""
        with self._recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_head)
            row = curs.fetchone()
            return int(row["head"]) if row else 0

    def _select(self, statement: sql.Composed, params: Sequence[Any]) -> list[RecordedEvent]:
        with self._recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            rows = curs.fetchall()
        return [self._to_recorded(row) for row in rows]

    def _to_recorded(self, row: dict[str, Any]) -> RecordedEvent:
        state = upcast(_CLASSES[row["topic"]], self._mapper.transcoder.decode(bytes(row["state"])))
        return RecordedEvent(
            position=row["notification_id"],
            tenant_id=row["originator_id"],
            version=row["originator_version"],
            type=event_type(row["topic"]),
            occurred_at=state["timestamp"],
            actor=state.get("actor", ""),
            reason=state.get("reason"),
            correlation_id=state.get("correlation_id"),
            data={k: v for k, v in state.items() if k not in _HIDDEN},
        )
