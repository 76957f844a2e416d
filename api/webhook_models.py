"""Request and response models of ``/v1/webhooks`` (SPEC §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.models import EventType

DeliveryStatus = Literal["pending", "delivered", "failed"]
_URL = Field(
    min_length=1,
    max_length=2048,
    description="`http(s)` URL of the receiver; loopback, private and link-local addresses are "
    "refused unless `TENANT_REGISTRY_WEBHOOKS_ALLOW_PRIVATE=true`.",
)


class WebhookCreate(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "url": "https://billing.example.com/hooks/tenants",
                "event_types": ["TenantCancelled", "TenantPurged"],
                "description": "billing",
            }
        },
    )

    url: str = _URL
    event_types: list[EventType] = Field(
        default_factory=list, max_length=20, description="Event types to send (empty: all)."
    )
    description: str = Field("", max_length=500, pattern=r"^[^\x00]*$")
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Fields to change (only those sent)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"enabled": False}})

    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[EventType] | None = Field(None, max_length=20)
    description: str | None = Field(None, max_length=500, pattern=r"^[^\x00]*$")
    enabled: bool | None = None


class WebhookOut(BaseModel):
    """An endpoint (its secret is shown only when created or rotated)."""

    id: UUID
    url: str
    event_types: list[str]
    enabled: bool
    description: str
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still signs."
    )


class WebhookCreated(WebhookOut):
    """A new endpoint, with its signing secret (shown only in this answer)."""

    secret: str = Field(description="`whsec_` + base64 of 32 random bytes; store it now.")


class WebhookList(BaseModel):
    data: list[WebhookOut]


class SecretRotated(BaseModel):
    """The new secret (shown only here); the old one signs beside it until the given time."""

    id: UUID
    secret: str
    previous_secret_expires_at: datetime


class DeliveryOut(BaseModel):
    """One delivery of one event to one endpoint: outcomes, never the payload."""

    id: int
    webhook_id: str = Field(description="The `webhook-id` header (same on retries and replays).")
    position: int
    tenant_id: UUID
    event_type: str
    status: DeliveryStatus
    attempt: int = Field(description="Attempts made so far.")
    http_status: int | None = Field(description="Status of the last attempt's answer.")
    error: str | None = Field(description="Why the last attempt got no answer (`timeout`, …).")
    duration_ms: float | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"after": 0}})

    after: int = Field(ge=0, le=2**62, description="Deliver again every matching event after it.")


class ReplayResult(BaseModel):
    replayed: int = Field(description="Deliveries created.")
