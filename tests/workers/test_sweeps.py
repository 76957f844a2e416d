"""The sweeps in-process: read side proposes, aggregate decides (real PostgreSQL, no Redis)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command
from domain.tenant import Status
from projections.runner import catch_up
from workers.jobs import run_named_sweep
from workers.runtime import SweepRuntime, build_runtime
from workers.sweeps import run_sweep

AFTER_TRIAL = datetime(2027, 1, 25, 0, 0, tzinfo=UTC)  # trials from 2027-01-10 ended 01-24


def register(registry: TenantRegistry, trial_days: int | None = None) -> UUID:
    slug = f"t-{secrets.token_hex(5)}"
    result = registry.register(
        slug=slug, name=f"Tenant {slug}", actor="test", trial_days=trial_days
    )
    return result.tenant.id


def types_of(registry: TenantRegistry, tenant_id: UUID) -> list[str]:
    return [e.type for e in registry.history(tenant_id)]


@pytest.fixture
def later(settings: Settings) -> Iterator[SweepRuntime]:
    """A sweep runtime whose clock stands after the trials of the ``registry`` fixture end."""
    runtime = build_runtime(settings, FrozenClock(AFTER_TRIAL))
    yield runtime
    runtime.close()


def test_trial_sweep_moves_ended_trials_to_grace_and_leaves_the_rest(
    registry: TenantRegistry, settings: Settings
) -> None:
    due = [register(registry) for _ in range(3)]
    running = register(registry, trial_days=30)
    paid = register(registry)
    registry.run(Command.ACTIVATE, paid, actor="test")

    counts = run_named_sweep(settings, "trials", clock=FrozenClock(AFTER_TRIAL))

    assert counts.as_dict() == {"examined": 3, "changed": 3, "skipped": 0, "failed": 0}
    for tenant_id in due:
        tenant = registry.get_tenant(tenant_id)
        assert tenant.status is Status.GRACE
        assert registry.history(tenant_id)[-1].actor == "sweep:trials"
    assert registry.get_tenant(running).status is Status.TRIAL
    assert registry.get_tenant(paid).status is Status.ACTIVE


def test_grace_sweep_pauses_tenants_whose_grace_ended(
    registry: TenantRegistry, settings: Settings
) -> None:
    tenant_id = register(registry)
    registry.run(Command.ACTIVATE, tenant_id, actor="test")
    registry.run(Command.START_GRACE, tenant_id, actor="test")  # ends 2027-01-17 local midnight

    counts = run_named_sweep(settings, "grace", clock=FrozenClock(AFTER_TRIAL))

    assert (counts.changed, counts.skipped) == (1, 0)
    assert registry.get_tenant(tenant_id).status is Status.PAUSED
    last = registry.history(tenant_id)[-1]
    assert (last.type, last.actor, last.reason) == (
        "TenantGraceExpired",
        "sweep:grace",
        "grace_expired",
    )


def test_purge_sweep_erases_tenants_deleted_more_than_the_retention_ago(
    registry: TenantRegistry, settings: Settings, clock: FrozenClock
) -> None:
    old = register(registry)
    registry.run(Command.CANCEL, old, actor="test")
    registry.run(Command.DELETE, old, actor="test")
    clock.advance(timedelta(days=30))
    recent = register(registry)
    registry.run(Command.CANCEL, recent, actor="test")
    registry.run(Command.DELETE, recent, actor="test")

    purge_time = datetime(2027, 1, 10, 9, 0, tzinfo=UTC) + timedelta(days=91)
    counts = run_named_sweep(settings, "purge", clock=FrozenClock(purge_time))

    assert (counts.examined, counts.changed) == (1, 1)
    assert registry.feed(after=0, limit=100, types=["TenantPurged"])[0].tenant_id == old
    assert types_of(registry, recent)[-1] == "TenantDeleted"


def test_a_stale_read_row_is_rechecked_on_the_aggregate_and_skipped(
    registry: TenantRegistry, settings: Settings, later: SweepRuntime
) -> None:
    tenant_id = register(registry)
    catch_up(settings)
    registry.run(Command.ACTIVATE, tenant_id, actor="test")  # the read table still says trial

    counts = run_sweep("trials", later.registry, later.read_model)

    assert counts.as_dict() == {"examined": 1, "changed": 0, "skipped": 1, "failed": 0}
    assert registry.get_tenant(tenant_id).status is Status.ACTIVE


def test_dry_run_reports_what_would_change_and_changes_nothing(
    registry: TenantRegistry, settings: Settings
) -> None:
    due = register(registry)
    stale = register(registry)
    catch_up(settings)
    registry.run(Command.PAUSE, stale, actor="test")
    runtime = build_runtime(settings, FrozenClock(AFTER_TRIAL))
    try:
        counts = run_sweep("trials", runtime.registry, runtime.read_model, dry_run=True)
    finally:
        runtime.close()

    assert (counts.examined, counts.changed, counts.skipped) == (2, 1, 1)
    assert types_of(registry, due) == ["TenantRegistered"]


def test_a_second_run_finds_nothing_left_to_do(
    registry: TenantRegistry, settings: Settings
) -> None:
    for _ in range(2):
        register(registry)
    first = run_named_sweep(settings, "trials", clock=FrozenClock(AFTER_TRIAL))
    second = run_named_sweep(settings, "trials", clock=FrozenClock(AFTER_TRIAL))
    assert (first.changed, second.examined, second.changed) == (2, 0, 0)


def test_sweeps_walk_every_page_of_candidates(
    registry: TenantRegistry, settings: Settings, later: SweepRuntime
) -> None:
    ids = [register(registry) for _ in range(7)]
    catch_up(settings)
    counts = run_sweep("trials", later.registry, later.read_model, batch_size=2, threads=3)
    assert counts.changed == 7
    assert all(registry.get_tenant(i).status is Status.GRACE for i in ids)


def test_two_concurrent_sweeps_change_each_tenant_once(
    registry: TenantRegistry, settings: Settings
) -> None:
    ids = [register(registry) for _ in range(40)]
    catch_up(settings)
    runtimes = [build_runtime(settings, FrozenClock(AFTER_TRIAL)) for _ in range(2)]
    results = []
    try:
        threads = [
            threading.Thread(
                target=lambda r=r: results.append(run_sweep("trials", r.registry, r.read_model))
            )
            for r in runtimes
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for r in runtimes:
            r.close()

    assert sum(c.changed for c in results) == 40
    assert sum(c.failed for c in results) == 0
    for tenant_id in ids:
        assert types_of(registry, tenant_id).count("TenantTrialExpired") == 1
