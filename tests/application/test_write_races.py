"""Issue 11, part 1: writes racing a purge, each interleaved at the exact point of the race."""

from __future__ import annotations

from datetime import timedelta

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command
from tests.support.hook_clock import HookClock


def test_purge_leaves_alone_a_tenant_restored_after_it_decided(
    settings: Settings, clock: FrozenClock
) -> None:
    restorer = TenantRegistry(settings, clock)
    tenant = restorer.register(slug="doomed", name="Doomed Ltd", actor="key:test").tenant
    restorer.run(Command.CANCEL, tenant.id, actor="key:test")
    restorer.run(Command.DELETE, tenant.id, actor="key:test")
    due = clock.now() + timedelta(days=settings.retention_days, seconds=1)
    restored: list[int] = []

    def restore_meanwhile() -> None:
        # The purge has loaded the deleted tenant at version 3 and is deciding: a restore
        # commits and is acknowledged (version 4), before the purge's retention ends for it.
        restored.append(restorer.run(Command.RESTORE, tenant.id, actor="key:ops").tenant.version)

    sweeper = TenantRegistry(settings, HookClock(due, restore_meanwhile))
    try:
        outcome = sweeper.purge(tenant.id)
        assert restored == [4]
        assert outcome == "skipped"
        survivor = restorer.get_tenant(tenant.id)
        assert (survivor.version, survivor.is_deleted, survivor.name) == (4, False, "Doomed Ltd")
        assert [e.type for e in restorer.history(tenant.id)][-1] == "TenantRestored"
    finally:
        sweeper.close()
        restorer.close()


def test_profile_change_from_one_to_true_is_recorded(registry: TenantRegistry) -> None:
    tenant = registry.register(
        slug="flags", name="Flags", metadata={"n": 1, "deep": {"on": 0, "list": [1]}}, actor="t"
    ).tenant
    changed = registry.update_profile(
        tenant.id, {"metadata": {"n": True, "deep": {"on": False, "list": [True]}}}, actor="t"
    )
    assert changed.changed
    stored = registry.get_tenant(tenant.id).metadata
    assert stored == {"n": True, "deep": {"on": False, "list": [True]}}
    assert stored["n"] is True
    assert stored["deep"]["on"] is False
    assert stored["deep"]["list"][0] is True
    again = registry.update_profile(
        tenant.id, {"metadata": {"n": True, "deep": {"on": False, "list": [True]}}}, actor="t"
    )
    assert not again.changed  # the same JSON is still a no-op
