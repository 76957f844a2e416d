"""A page of sweep transitions re-checked on each aggregate and saved in one transaction."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command, Sweep
from domain.tenant import Tenant


def _register(registry: TenantRegistry, slug: str) -> Tenant:
    return registry.register(slug=slug, name=f"{slug} Ltd", actor="key:test", trial_days=1).tenant


def test_due_trials_expire_and_the_rest_are_skipped(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    due = [_register(registry, f"due-{n}") for n in range(3)]
    paid = _register(registry, "paid")
    registry.run(Command.ACTIVATE, paid.id, actor="key:test")
    clock.advance(timedelta(days=2))
    unknown = uuid4()
    ids = [*(t.id for t in due), paid.id, unknown]
    outcomes = registry.sweep_batch(Sweep.TRIALS, ids, actor=Sweep.TRIALS.actor)
    assert outcomes == {**{t.id: "changed" for t in due}, paid.id: "skipped", unknown: "skipped"}
    assert {registry.get_tenant(t.id).status.value for t in due} == {"grace"}
    assert registry.history(due[0].id)[-1].actor == "sweep:trials"
    assert registry.sweep_batch(Sweep.TRIALS, ids, actor=Sweep.TRIALS.actor) == dict.fromkeys(
        ids, "skipped"
    )


def test_tenants_with_snapshots_are_loaded_from_them(
    settings: Settings, clock: FrozenClock
) -> None:
    settings = settings.model_copy(update={"snapshot_interval": 2})
    registry = TenantRegistry(settings, clock)
    try:
        tenant = _register(registry, "snap")
        for command in (
            Command.ACTIVATE,
            Command.START_GRACE,
            Command.ACTIVATE,
            Command.START_GRACE,
        ):
            registry.run(command, tenant.id, actor="key:test")
        clock.advance(timedelta(days=30))
        outcomes = registry.sweep_batch("grace", [tenant.id], actor="sweep:grace")
        assert outcomes == {tenant.id: "changed"}
        assert registry.get_tenant(tenant.id).status.value == "paused"
        assert registry.get_tenant(tenant.id).version == 6
    finally:
        registry.close()


def test_a_page_with_a_stale_tenant_saves_nothing(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    first, second = _register(registry, "first"), _register(registry, "second")
    clock.advance(timedelta(days=2))
    other = TenantRegistry(registry.settings, clock)
    try:
        stale = other._load_many([first.id, second.id])  # read before the change below
    finally:
        other.close()
    registry.run(Command.ACTIVATE, second.id, actor="key:test")
    for tenant in stale:
        tenant.expire_trial(now=clock.now(), actor="sweep:trials", grace_days=7)
    with pytest.raises(IntegrityError):
        registry.save_batch(stale)
    assert registry.get_tenant(first.id).status.value == "trial"
