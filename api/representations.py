"""JSON documents of tenants and events, rendered straight to bytes with orjson.

The write model (a ``Tenant`` aggregate, for command responses) and the read model (a
``TenantRow``, for reads) render to the same document.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from application.documents import TenantLike, dumps, tenant_document
from application.events import RecordedEvent

__all__ = ["TenantLike", "dumps", "event_document", "tenant_document"]


def event_document(event: RecordedEvent) -> dict[str, Any]:
    """An event of the history or the feed."""
    return {
        "position": event.position,
        "tenant_id": event.tenant_id,
        "version": event.version,
        "type": event.type,
        "occurred_at": event.occurred_at.astimezone(UTC),
        "actor": event.actor,
        "correlation_id": event.correlation_id,
        "reason": event.reason,
        "data": event.data,
    }
