"""Builders that put a tenant in any lifecycle state, through its own commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.tenant import Tenant

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
ACTOR = "key:test"


def new_tenant(now: datetime = T0, **overrides: Any) -> Tenant:
    fields: dict[str, Any] = {
        "slug": "acme",
        "name": "Acme Ltd",
        "timezone": "Asia/Jerusalem",
        "plan": "standard",
        "contact_email": "ops@acme.example",
        "metadata": {"tier": 1},
        "trial_days": 14,
    }
    fields.update(overrides)
    return Tenant.register(now=now, actor=ACTOR, **fields)


def tenant_in(state: str, now: datetime = T0) -> Tenant:
    """A tenant in ``state``: a status, or ``deleted`` / ``deleted-expired`` (past purge_after)."""
    tenant = new_tenant(now - timedelta(days=200))
    t = now - timedelta(days=100)
    if state == "trial":
        pass
    elif state == "active":
        tenant.activate(now=t, actor=ACTOR)
    elif state == "grace":
        tenant.activate(now=t, actor=ACTOR)
        tenant.start_grace(now=now, actor=ACTOR, grace_days=7)
    elif state == "paused":
        tenant.pause(now=t, actor=ACTOR)
    elif state == "cancelled":
        tenant.cancel(now=t, actor=ACTOR)
    elif state == "deleted":
        tenant.cancel(now=t, actor=ACTOR)
        tenant.delete(now=now - timedelta(days=1), actor=ACTOR, retention_days=90)
    elif state == "deleted-expired":
        tenant.cancel(now=t, actor=ACTOR)
        tenant.delete(now=t, actor=ACTOR, retention_days=90)
    else:
        raise ValueError(state)
    tenant.collect_events()
    return tenant
