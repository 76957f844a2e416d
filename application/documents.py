"""JSON documents of tenants, rendered straight to bytes with orjson.

The write model (a ``Tenant`` aggregate, for command answers, which idempotency records keep)
and the read model (a ``TenantRow``, for reads) render to the same document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import orjson

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


def dumps(document: Any) -> bytes:
    """Serialise a document (UUIDs, datetimes and nested event data included)."""
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)


def tenant_json(tenant: TenantLike) -> bytes:
    """The tenant's document as bytes (the body of a command's answer)."""
    return dumps(tenant_document(tenant))
