"""The registry's documents as pydantic models (SPEC §2, §3, §9).

Unknown fields are ignored, so a newer server that adds a field does not break an older
client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

Status = Literal["trial", "active", "grace", "paused", "cancelled"]
EventType = Literal[
    "TenantRegistered",
    "TenantActivated",
    "TenantGracePeriodStarted",
    "TenantPaused",
    "TenantCancelled",
    "TenantReactivated",
    "TenantDeleted",
    "TenantRestored",
    "TenantProfileUpdated",
    "TenantTrialExpired",
    "TenantGraceExpired",
    "TenantPurged",
    "TenantImported",
]
#: The lifecycle commands, spelled as in the URLs (and in ``InvalidTransition.allowed``).
LifecycleCommand = Literal[
    "activate", "start-grace", "pause", "cancel", "reactivate", "delete", "restore"
]


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Tenant(_Document):
    """A tenant as the API shows it. Timestamps are UTC; ``None`` until they apply."""

    id: UUID
    slug: str
    name: str
    timezone: str
    plan: str
    contact_email: str | None = None
    metadata: dict[str, Any] = {}
    status: Status
    created_at: datetime
    updated_at: datetime
    trial_ends_at: datetime | None = None
    grace_ends_at: datetime | None = None
    activated_at: datetime | None = None
    paused_at: datetime | None = None
    cancelled_at: datetime | None = None
    deleted_at: datetime | None = None
    purge_after: datetime | None = None
    version: int


class TenantPage(_Document):
    """One page of ``GET /v1/tenants``, newest first."""

    data: list[Tenant]
    next_cursor: str | None = None


class Event(_Document):
    """One event of a tenant's history or of the global feed."""

    position: int
    tenant_id: UUID
    version: int
    type: str
    occurred_at: datetime
    actor: str
    correlation_id: str | None = None
    reason: str | None = None
    data: dict[str, Any] = {}


class History(_Document):
    """A tenant's events in version order."""

    data: list[Event]


class EventPage(_Document):
    """One page of the event feed; pass ``next_after`` as ``after`` for the next one."""

    data: list[Event]
    next_after: int


class Change(_Document):
    """One item of the changes feed: a tenant in its current state, or a purge
    (``tenant`` is ``None`` and ``purged_at`` is set)."""

    position: int
    tenant_id: UUID
    tenant: Tenant | None = None
    purged_at: datetime | None = None


class ChangePage(_Document):
    """One page of the changes feed."""

    data: list[Change]
    next_after: int


class Stats(_Document):
    """Counts from the read table; ``total`` and ``by_status`` exclude deleted tenants."""

    total: int
    by_status: dict[str, int]
    deleted: int


class Projection(_Document):
    """Health of one projection."""

    name: str
    state: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    last_error: str | None = None


class CommandResult(_Document):
    """The answer to a command: the tenant after it, and where its event landed.

    ``position`` is the command's ``X-Event-Position``: pass it to
    ``TenantDirectory.wait_for`` or as ``min_position`` to read your own write.
    """

    tenant: Tenant
    position: int
    replayed: bool = False
