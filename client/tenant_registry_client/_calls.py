"""What the sync and async clients share: how each route's request is built, the retry
policy, and how answers become models. No I/O here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

from tenant_registry_client.errors import problem_token
from tenant_registry_client.models import CommandResult, Tenant

#: Longest ``Retry-After`` the client honours before giving up instead of sleeping.
MAX_RETRY_AFTER_SECONDS = 30.0
RETRYABLE_PROBLEMS = frozenset({"unavailable", "projection-lagging", "idempotency-key-in-progress"})
Params = dict[str, str | int | list[str]]


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request; a write carries its ``Idempotency-Key``, reused on every retry."""

    method: str
    path: str
    params: Params = field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method in {"POST", "PATCH", "DELETE"}


def tenant_path(tenant_id: UUID | str, suffix: str = "") -> str:
    return f"/v1/tenants/{UUID(str(tenant_id))}{suffix}"


def write(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    *,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call:
    """A command: an ``Idempotency-Key`` (generated unless given) and optional ``If-Match``."""
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    return Call(method, path, body=body, headers=headers)


def reason_body(reason: str | None) -> dict[str, Any] | None:
    return None if reason is None else {"reason": reason}


def optional(**values: Any) -> Params:
    """Query parameters that are set (``None`` left out; booleans as ``true``/``false``)."""
    params: Params = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            params[name] = [str(item) for item in value]
        else:
            params[name] = value
    return params


def retry_delay(response: httpx.Response, attempt: int) -> float | None:
    """Seconds to wait before retrying ``response``, or ``None`` if it is final."""
    if response.status_code not in {409, 503}:
        return None
    kind = problem_token(response)
    if response.status_code == 409 and kind != "idempotency-key-in-progress":
        return None
    if response.status_code == 503 and kind and kind not in RETRYABLE_PROBLEMS:
        return None
    after = _retry_after(response.headers.get("Retry-After"))
    delay = after if after is not None else backoff(attempt)
    return delay if delay <= MAX_RETRY_AFTER_SECONDS else None


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Exponential backoff for attempt 0, 1, 2, …"""
    return float(min(cap, base * (2**attempt)))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def command_result(response: httpx.Response) -> CommandResult:
    """A command's answer: the tenant, ``X-Event-Position`` and whether it was replayed."""
    return CommandResult(
        tenant=Tenant.model_validate_json(response.content),
        position=int(response.headers.get("X-Event-Position", "0")),
        replayed=response.headers.get("Idempotent-Replayed") == "true",
    )


def register_body(
    slug: str,
    name: str,
    *,
    timezone: str | None,
    plan: str | None,
    contact_email: str | None,
    metadata: Mapping[str, Any] | None,
    trial_days: int | None,
    reason: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"slug": slug, "name": name}
    extra = {
        "timezone": timezone,
        "plan": plan,
        "contact_email": contact_email,
        "metadata": None if metadata is None else dict(metadata),
        "trial_days": trial_days,
        "reason": reason,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


class Unset:
    """Marks a profile field left out of an update (``None`` clears ``contact_email``)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def profile_body(reason: str | None, **fields: Any) -> dict[str, Any]:
    body = {name: value for name, value in fields.items() if value is not UNSET}
    if reason is not None:
        body["reason"] = reason
    return body


def types_param(types: Sequence[str] | None) -> list[str] | None:
    return None if not types else list(types)
