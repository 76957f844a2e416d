"""Folding stored tenant events into read-table rows, in memory, a batch at a time.

The semantics of each event on the tenant's fields are the domain's own: every event is
applied with its class's ``apply`` method to a light row object, so the read table cannot
drift from what replaying the aggregate gives. What the aggregate base class adds (``version``,
``modified_on``, ``created_on``) is done here, as ``Aggregate.Event.mutate`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    def from_mapping(cls, values: Mapping[str, Any]) -> Row:
        row = cls()
        for column in COLUMNS:
            setattr(row, column, values[column])
        return row

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in COLUMNS)


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


def fold(events: Iterable[StoredTenantEvent], existing: Mapping[UUID, Row]) -> Folded:
    """Apply ``events`` (in position order) on top of the ``existing`` rows they touch."""
    out = Folded()
    for event in events:
        try:
            _apply(out, event, existing)
        except ProjectionError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise ProjectionError(event.position, event.tenant_id, reason) from exc
    return out


def _apply(out: Folded, event: StoredTenantEvent, existing: Mapping[UUID, Row]) -> None:
    tenant_id = event.tenant_id
    if event.topic == _PURGED:
        # The tenant's earlier events are gone from the store; only erasure is left to do.
        out.rows.pop(tenant_id, None)
        out.purged[tenant_id] = event.state["purged_at"]
        return
    if tenant_id in out.purged:
        raise ProjectionError(event.position, tenant_id, "event after the tenant's purge")
    row = out.rows.get(tenant_id) or existing.get(tenant_id)
    cls = _CLASSES.get(event.topic)
    if cls is None:
        raise ProjectionError(event.position, tenant_id, f"unknown topic {event.topic!r}")
    expected = 1 if row is None else row.version + 1
    if event.version != expected:
        reason = f"version {event.version} does not follow {expected - 1}"
        raise ProjectionError(event.position, tenant_id, reason)
    if row is None:
        if event.topic != _REGISTERED:
            raise ProjectionError(event.position, tenant_id, "first event is not a registration")
        row = Row()
        row.id = tenant_id
        row.created_at = event.state["timestamp"]
    elif out.rows.get(tenant_id) is None:
        row = _copy(row)
    cls.apply(SimpleNamespace(**event.state), row)  # type: ignore[arg-type]
    row.status = str(row.status)
    row.version = event.version
    row.updated_at = event.state["timestamp"]
    out.rows[tenant_id] = row


def _copy(row: Row) -> Row:
    clone = Row()
    for column in COLUMNS:
        setattr(clone, column, getattr(row, column))
    clone.metadata = dict(row.metadata)
    return clone
