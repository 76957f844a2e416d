"""JSON documents of tenants and events, rendered straight to bytes with orjson.

The write model (a ``Tenant`` aggregate, for command responses) and the read model (a
``TenantRow``, for reads) render to the same document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import orjson

from application.events import RecordedEvent
from domain.tenant import TENANT_FIELDS


class TenantLike(Protocol):
    """What both a ``Tenant`` aggregate and a ``TenantRow`` offer."""

    @property
    def id(self) -> UUID: ...

    @property
    def version(self) -> int: ...


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str):
        return str(value)  # a StrEnum becomes its value
    return value


def tenant_document(tenant: TenantLike) -> dict[str, Any]:
    """The tenant as the API shows it."""
    return {name: _plain(getattr(tenant, name)) for name in TENANT_FIELDS}


def event_document(event: RecordedEvent) -> dict[str, Any]:
    """An event of the history or the feed."""
    return {
        "position": event.position,
        "tenant_id": event.tenant_id,
        "version": event.version,
        "type": event.type,
        "occurred_at": event.occurred_at.astimezone(UTC),
        "actor": event.actor,
        "reason": event.reason,
        "data": event.data,
    }


def dumps(document: Any) -> bytes:
    """Serialise a document (UUIDs, datetimes and nested event data included)."""
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
