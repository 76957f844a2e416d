"""What read-side queries return (re-exported by :mod:`projections.queries`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class TenantRow:
    """One tenant as the read table holds it: every field of SPEC §2, in the order of the
    API's document. The API serialises it as it is (orjson writes dataclasses): the read
    pool's sessions run in UTC and decode ``jsonb`` with orjson, so the bytes are those of
    the write model's document (``tests/projections/test_queries.py`` compares them)."""

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


@dataclass(frozen=True)
class Page:
    """One page of a tenant list, and the cursor of the next (None on the last page)."""

    items: list[TenantRow]
    next_cursor: str | None


@dataclass(frozen=True)
class ProjectionStatus:
    """Health of one projection: how far it got, how far behind, who is working on it."""

    name: str
    state: str  # running | standby | stopped | rebuilding
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    last_error: str | None


class InvalidCursor(ValueError):
    """A list cursor that this service did not issue (or that was tampered with)."""


@dataclass(frozen=True)
class Change:
    """One item of the changes feed: a tenant in its current state at ``position`` (the
    latest event applied to its row), or a purged tenant (``tenant`` None, ``purged_at``)."""

    position: int
    tenant_id: UUID
    tenant: TenantRow | None
    purged_at: datetime | None = None
