"""Folding stored tenant events into read-table rows, in memory, a batch at a time.

The semantics of each event on the tenant's fields are the domain's own: every event is
applied with its class's ``apply`` method to a light row object, so the read table cannot
drift from what replaying the aggregate gives. What the aggregate base class adds (``version``,
``modified_on``, ``created_on``) is done here, as ``Aggregate.Event.mutate`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from domain.tenant import TENANT_EVENT_CLASSES, Tenant
from projections.schema import COLUMNS

_CLASSES: dict[str, type[Tenant.Event]] = {c.TOPIC: c for c in TENANT_EVENT_CLASSES}
#: Stored topics of every tenant event (the store also holds slug index events).
TENANT_TOPICS: tuple[str, ...] = tuple(_CLASSES)
_REGISTERED = Tenant.Registered.TOPIC
_PURGED = Tenant.Purged.TOPIC


class ProjectionError(Exception):
    """An event that cannot be projected; progress stops at its position."""

    def __init__(self, position: int, tenant_id: UUID | None, reason: str) -> None:
        self.position = position
        self.tenant_id = tenant_id
        self.reason = reason
        super().__init__(f"cannot project event at position {position} ({tenant_id}): {reason}")


class Row:
    """One tenant's read-table row while a batch is folded (the fields ``apply`` sets)."""

    __slots__ = COLUMNS

    id: UUID
    slug: str
    name: str
    timezone: str
    plan: str
    contact_email: str | None
    metadata: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    trial_ends_at: datetime | None
    grace_ends_at: datetime | None
    activated_at: datetime | None
    paused_at: datetime | None
    cancelled_at: datetime | None
    deleted_at: datetime | None
    purge_after: datetime | None
    version: int

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Row:
        """A row from column values in :data:`COLUMNS` order."""
        row = cls()
        for column, value in zip(COLUMNS, values, strict=True):
            setattr(row, column, value)
        return row

    def values(self) -> tuple[Any, ...]:
        """Column values in :data:`COLUMNS` order."""
        return _VALUES(self)


_VALUES = attrgetter(*COLUMNS)


@dataclass(frozen=True)
class StoredTenantEvent:
    """One tenant event read from the store: position, originator and decoded state."""

    position: int
    tenant_id: UUID
    version: int
    topic: str
    state: dict[str, Any]


@dataclass
class Folded:
    """The outcome of a batch: final rows to upsert, and tenants purged in the batch."""

    rows: dict[UUID, Row] = field(default_factory=dict)
    purged: dict[UUID, datetime] = field(default_factory=dict)
    created: set[UUID] = field(default_factory=set)  # registered in this batch


def rows_to_load(events: Iterable[StoredTenantEvent]) -> set[UUID]:
    """Tenants whose current row the batch builds on (their first event here is not a
    registration or a purge)."""
    seen: set[UUID] = set()
    wanted: set[UUID] = set()
    for event in events:
        if event.tenant_id not in seen:
            seen.add(event.tenant_id)
            if event.topic not in (_REGISTERED, _PURGED):
                wanted.add(event.tenant_id)
    return wanted


def fold(events: Iterable[StoredTenantEvent], existing: dict[UUID, Row]) -> Folded:
    """Apply ``events`` (in position order) on top of the ``existing`` rows they touch.

    The rows of ``existing`` are taken over and changed in place.
    """
    out = Folded(rows=existing)
    for event in events:
        try:
            _apply(out, event)
        except ProjectionError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise ProjectionError(event.position, event.tenant_id, reason) from exc
    return out


def _apply(out: Folded, event: StoredTenantEvent) -> None:
    tenant_id, topic, state = event.tenant_id, event.topic, event.state
    if topic == _PURGED:
        # The tenant's earlier events are gone from the store; only erasure is left to do.
        out.rows.pop(tenant_id, None)
        out.created.discard(tenant_id)
        out.purged[tenant_id] = state["purged_at"]
        return
    row = out.rows.get(tenant_id)
    cls = _CLASSES.get(topic)
    if cls is None or tenant_id in out.purged:
        raise ProjectionError(event.position, tenant_id, f"unexpected {topic!r} event")
    if row is None:
        if event.version != 1 or topic != _REGISTERED:
            raise ProjectionError(event.position, tenant_id, "no row for this tenant")
        row = out.rows[tenant_id] = Row()
        row.id = tenant_id
        row.created_at = state["timestamp"]
        out.created.add(tenant_id)
    elif event.version != row.version + 1:
        reason = f"version {event.version} does not follow {row.version}"
        raise ProjectionError(event.position, tenant_id, reason)
    cls.apply(SimpleNamespace(**state), row)  # type: ignore[arg-type]
    row.status = str(row.status)
    row.version = event.version
    row.updated_at = state["timestamp"]
