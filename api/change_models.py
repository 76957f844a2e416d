"""Response models of the changes feed (SPEC §9), rendered by :func:`change_document`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.models import TenantOut
from api.representations import tenant_document
from projections.models import Change


class ChangeOut(BaseModel):
    """A tenant in its current state, or (`tenant` null, `purged_at` set) a purged tenant."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "position": 42,
                "tenant_id": "0b0f4b8e-59a3-4f5e-9d53-0d6c1e3a7f10",
                "tenant": None,
                "purged_at": "2027-04-11T01:30:00Z",
            }
        }
    )

    position: int = Field(description="Global position of the latest event applied to the row.")
    tenant_id: UUID
    tenant: TenantOut | None = Field(description="The tenant now; `null` once purged.")
    purged_at: datetime | None = Field(
        None, description="Purge items only: when the tenant's data was erased."
    )


class ChangeFeed(BaseModel):
    """Changed tenants after a position, each once, in increasing `position`."""

    data: list[ChangeOut]
    next_after: int = Field(
        description="Pass as `after` for the next page (the last position, or `after`)."
    )


def change_document(change: Change) -> dict[str, Any]:
    """A change as the feed and the stream show it."""
    if change.tenant is None:
        return {
            "position": change.position,
            "tenant_id": change.tenant_id,
            "tenant": None,
            "purged_at": change.purged_at,
        }
    return {
        "position": change.position,
        "tenant_id": change.tenant_id,
        "tenant": tenant_document(change.tenant),
    }
