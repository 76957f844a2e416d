"""Request and response models of the HTTP API (separate from the domain's classes).

Requests are checked for shape here (types, unknown fields); the business rules of SPEC §2 are
the domain's, which names every field it refuses. Responses are documented by these models and
rendered by :mod:`api.representations`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.validation import PLAN, SLUG

StatusName = Literal["trial", "active", "grace", "paused", "cancelled"]
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

_REASON = Field(
    None, description="Why (recorded on the event); at most 500 characters.", examples=["paid"]
)


class RegisterRequest(BaseModel):
    """A new tenant. Unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "slug": "acme",
                "name": "Acme Ltd",
                "contact_email": "ops@acme.example",
                "plan": "pro",
                "metadata": {"crm_id": "A-17"},
            }
        },
    )

    slug: str = Field(
        pattern=SLUG.pattern,
        description="3-63 lower-case letters, digits and inner hyphens; unique; immutable.",
    )
    name: str = Field(description="1-200 characters after trimming, no control characters.")
    timezone: str | None = Field(None, description="IANA zone; default `Asia/Jerusalem`.")
    plan: str | None = Field(None, pattern=PLAN.pattern, description="Default `standard`.")
    contact_email: str | None = Field(None, description="A valid e-mail address.")
    metadata: dict[str, Any] | None = Field(
        None, description="JSON object: at most 50 keys of at most 40 characters, 8 KiB."
    )
    # Strict: a JSON integer, not "5", true or 1.0 (lax mode would take all three).
    trial_days: int | None = Field(
        None, ge=1, le=90, strict=True, description="Default 14; a JSON integer."
    )
    reason: str | None = _REASON


class ProfileUpdate(BaseModel):
    """Profile fields to change; fields left out stay as they are. Others are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "Acme Group", "contact_email": None}},
    )

    name: str | None = Field(None, description="New name.")
    timezone: str | None = Field(None, description="New IANA zone.")
    plan: str | None = Field(None, description="New plan.")
    contact_email: str | None = Field(None, description="New address; `null` removes it.")
    metadata: dict[str, Any] | None = Field(None, description="Replaces the whole object.")
    reason: str | None = _REASON


class CommandRequest(BaseModel):
    """Optional body of a lifecycle command."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"reason": "paid"}})

    reason: str | None = _REASON


class TenantOut(BaseModel):
    """A tenant (SPEC §2). Timestamps are UTC; `null` until they apply."""

    id: UUID
    slug: str
    name: str
    timezone: str
    plan: str
    contact_email: str | None
    metadata: dict[str, Any]
    status: StatusName
    created_at: datetime
    updated_at: datetime
    trial_ends_at: datetime | None
    grace_ends_at: datetime | None
    activated_at: datetime | None
    paused_at: datetime | None
    cancelled_at: datetime | None
    deleted_at: datetime | None
    purge_after: datetime | None
    version: int = Field(description="Number of events; the `ETag`.")


class TenantPage(BaseModel):
    """One page of tenants, newest first."""

    data: list[TenantOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class EventOut(BaseModel):
    """One event of a tenant's history."""

    position: int = Field(description="Global position in the store (increasing, with gaps).")
    tenant_id: UUID
    version: int
    type: EventType
    occurred_at: datetime
    actor: str = Field(description="`key:<api key name>` or `sweep:<trials|grace|purge>`.")
    correlation_id: str | None = Field(
        description="The request id (or sweep run, or CLI invocation) that caused the event; "
        "null for events recorded before correlation ids."
    )
    reason: str | None
    data: dict[str, Any] = Field(description="The event's own fields.")


class History(BaseModel):
    """A tenant's events in version order."""

    data: list[EventOut]


class Feed(BaseModel):
    """Events after a position."""

    data: list[EventOut]
    next_after: int = Field(description="Pass as `after` for the next page.")


class Stats(BaseModel):
    """Counts from the read table; `total` and `by_status` exclude deleted tenants."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "total": 3,
                "by_status": {"trial": 1, "active": 2, "grace": 0, "paused": 0, "cancelled": 0},
                "deleted": 1,
            }
        }
    )

    total: int
    by_status: dict[StatusName, int]
    deleted: int


class ProjectionOut(BaseModel):
    """Health of one projection."""

    name: str
    state: Literal["running", "standby", "stopped", "rebuilding"]
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    last_error: str | None


class Projections(BaseModel):
    """Every projection."""

    data: list[ProjectionOut]


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Check(BaseModel):
    """One dependency's state."""

    ok: bool
    detail: str | None = None


class ProjectionLag(BaseModel):
    """How far one projection is behind the event store."""

    name: str
    state: str
    lag_events: int
    lag_seconds: float


class ProjectionsCheck(Check):
    """The read side: `ok` is false only past `TENANT_REGISTRY_READY_MAX_LAG_S` (if set)."""

    max_lag_seconds: float | None = None
    lag: list[ProjectionLag] = []


class ReadinessChecks(BaseModel):
    """One entry per dependency (`projections` only while the database answers)."""

    database: Check
    redis: Check
    projections: ProjectionsCheck | None = None


class Readiness(BaseModel):
    """`ready` when the database answers (`degraded` when Redis does not), with the lag."""

    status: Literal["ready", "degraded", "not-ready"]
    checks: ReadinessChecks
