"""A tenant rebuilt from a snapshot behaves exactly like one rebuilt from its events."""

from __future__ import annotations

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command
from domain.tenant import Status


def test_tenant_loaded_from_a_snapshot_accepts_commands(
    settings: Settings, clock: FrozenClock
) -> None:
    settings = settings.model_copy(update={"snapshot_interval": 2, "aggregate_cache_size": 0})
    registry = TenantRegistry(settings, clock)
    try:
        tenant = registry.register(slug="snap", name="Snap Ltd", actor="key:test").tenant
        registry.run(Command.ACTIVATE, tenant.id, actor="key:test")  # version 2: snapshot
        assert registry.get_tenant(tenant.id).status is Status.ACTIVE
        result = registry.run(Command.START_GRACE, tenant.id, actor="key:test")
        assert result.tenant.status is Status.GRACE
    finally:
        registry.close()
