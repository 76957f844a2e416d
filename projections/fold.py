"""Folding stored tenant events into read-table rows, in memory, a batch at a time.

The semantics of each event on the tenant's fields are the domain's own: every event is
applied with its class's ``apply`` method to a light row object, so the read table cannot
drift from what replaying the aggregate gives. What the aggregate base class adds (``version``,
``modified_on``, ``created_on``) is done here, as ``Aggregate.Event.mutate`` does.

Every ``apply`` only assigns fields, so a tenant that already has a row does not need it
loaded: its events are folded into a :class:`Changes` that knows which fields they set, and
the database applies those on top of the row whose version the first event follows. An
``apply`` that read a field the batch has not set would fail loudly here, never guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, NamedTuple
from uuid import UUID

from domain.tenant import TENANT_EVENT_CLASSES, Tenant
from projections.schema import COLUMNS, ROW_COLUMNS

#: The event class of each stored tenant topic (their upcasters bring old states up to date).
EVENT_CLASSES: dict[str, type[Tenant.Event]] = {c.TOPIC: c for c in TENANT_EVENT_CLASSES}
_CLASSES = EVENT_CLASSES
#: Stored topics of every tenant event (the store also holds slug index events).
TENANT_TOPICS: tuple[str, ...] = tuple(_CLASSES)
_REGISTERED = Tenant.Registered.TOPIC
_IMPORTED = Tenant.Imported.TOPIC
#: Events that create a tenant (its version 1).
_CREATIONS = frozenset((_REGISTERED, _IMPORTED))
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

    __slots__ = ROW_COLUMNS

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
    position: int

    def values(self) -> tuple[Any, ...]:
        """Column values in :data:`ROW_COLUMNS` order."""
        return _VALUES(self)


_VALUES = attrgetter(*ROW_COLUMNS)


class Changes:
    """What a batch changes on an existing row: the fields its events set (and only those,
    so an ``apply`` that reads a field the batch did not set fails), on top of the version
    the first of them follows.

    A plain object on purpose: its ``__dict__`` is exactly the set fields.
    """

    id: UUID
    version: int
    base_version: int
    position: int
    status: str
    updated_at: datetime

    def values(self) -> tuple[Any, ...]:
        """Column values (None where unset), then ``position``, ``base_version`` and the
        bitmask of set columns (bit ``i`` for ``COLUMNS[i]``); a field outside the table
        fails here."""
        fields = self.__dict__
        return (
            *map(fields.get, COLUMNS),
            self.position,
            self.base_version,
            sum(map(_BITS.__getitem__, fields)),
        )


_BITS = {column: 1 << i for i, column in enumerate(COLUMNS)} | {"base_version": 0, "position": 0}


class StoredTenantEvent(NamedTuple):
    """One tenant event read from the store: position, originator and decoded state."""

    position: int
    tenant_id: UUID
    version: int
    topic: str
    state: dict[str, Any]


@dataclass
class Folded:
    """The outcome of a batch: new rows, changes to existing rows, purged tenants."""

    rows: dict[UUID, Row | Changes] = field(default_factory=dict)
    purged: dict[UUID, datetime] = field(default_factory=dict)
    #: The position of each purged tenant's ``TenantPurged`` (its item in the changes feed).
    purge_positions: dict[UUID, int] = field(default_factory=dict)

    def created(self) -> list[Row]:
        """Rows of tenants registered in this batch."""
        return [row for row in self.rows.values() if type(row) is Row]

    def changed(self) -> list[Changes]:
        """Changes to the rows of tenants registered before this batch."""
        return [row for row in self.rows.values() if isinstance(row, Changes)]


def fold(events: Iterable[StoredTenantEvent]) -> Folded:
    """Apply ``events`` (in position order) to new rows and to changes of existing ones."""
    out = Folded()
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
        out.purged[tenant_id] = state["purged_at"]
        out.purge_positions[tenant_id] = event.position
        return
    row = out.rows.get(tenant_id)
    cls = _CLASSES.get(topic)
    if cls is None or (out.purged and tenant_id in out.purged):
        raise ProjectionError(event.position, tenant_id, f"unexpected {topic!r} event")
    if row is None:
        row = out.rows[tenant_id] = _start(event)
    elif event.version != row.version + 1:
        reason = f"version {event.version} does not follow {row.version}"
        raise ProjectionError(event.position, tenant_id, reason)
    cls.apply(SimpleNamespace(**state), row)  # type: ignore[arg-type]
    status = getattr(row, "status", None)
    if status is not None:
        row.status = str(status)  # a domain Status (a str enum) or already a str
    row.version = event.version
    # An import happened now but carries the source row's own modification time.
    row.updated_at = state["updated_at"] if topic == _IMPORTED else state["timestamp"]
    row.position = event.position


def _start(event: StoredTenantEvent) -> Row | Changes:
    """The row a tenant's first event in the batch works on."""
    if event.topic not in _CREATIONS:
        changes = Changes()
        changes.id = event.tenant_id
        changes.base_version = changes.version = event.version - 1
        return changes
    if event.version != 1:
        raise ProjectionError(event.position, event.tenant_id, "registration is not first")
    row = Row()
    row.id = event.tenant_id
    state = event.state
    row.created_at = state["created_at"] if event.topic == _IMPORTED else state["timestamp"]
    return row
