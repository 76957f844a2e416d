"""Group commit: saves that arrive together share one transaction; each stands or falls alone."""

from __future__ import annotations

import threading
import time
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.recorder import OriginatorPurged, Save
from application.registry import TenantRegistry
from common.settings import Settings
from common.tables import EVENTS_CHANNEL
from domain.lifecycle import Command
from domain.tenant import Tenant
from tests.domain.factories import new_tenant


def _pending(registry: TenantRegistry, tenant: Tenant) -> Save:
    return Save(events=[registry.mapper.to_stored_event(e) for e in tenant.collect_events()])


def _new(registry: TenantRegistry, slug: str) -> Tenant:
    return new_tenant(registry.clock.now(), slug=slug, name=slug.title())


def test_a_conflict_in_a_group_fails_that_save_alone(
    registry: TenantRegistry, settings: Settings
) -> None:
    taken = registry.register(slug="taken", name="Taken", actor="key:test").tenant
    stale = registry.get_tenant(taken.id)
    registry.run(Command.ACTIVATE, taken.id, actor="key:test")  # version 2 is taken now
    stale.pause(now=registry.clock.now(), actor="key:stale")  # also version 2
    first, last = _new(registry, "first"), _new(registry, "last")
    with psycopg.connect(settings.database_url, autocommit=True) as listener:
        listener.execute(f'LISTEN "{EVENTS_CHANNEL}"')
        outcomes = registry.tenant_recorder.save_many(
            [_pending(registry, first), _pending(registry, stale), _pending(registry, last)]
        )
        notifications = list(listener.notifies(timeout=1.0, stop_after=5))
    assert isinstance(outcomes[1], IntegrityError)
    saved = [o for o in (outcomes[0], outcomes[2]) if isinstance(o, list)]
    assert len(saved) == 2
    assert saved[0][0] < saved[1][0]  # in order, in one transaction
    assert registry.get_tenant(first.id).version == registry.get_tenant(last.id).version == 1
    assert registry.get_tenant(taken.id).status.value == "active"
    assert len(notifications) == 1  # one NOTIFY for the transaction


def test_a_purged_tenant_in_a_group_is_refused_alone(
    registry: TenantRegistry, settings: Settings
) -> None:
    gone = uuid4()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenant_registry.purged_tenants (tenant_id, purged_at) VALUES (%s, now())",
            (gone,),
        )
    (registered,) = _pending(registry, _new(registry, "ghost")).events
    ghost_save = Save(events=[StoredEvent(gone, 1, registered.topic, registered.state)])
    fine = _new(registry, "fine")
    outcomes = registry.tenant_recorder.save_many([ghost_save, _pending(registry, fine)])
    assert isinstance(outcomes[0], OriginatorPurged)
    assert isinstance(outcomes[1], list)
    assert registry.get_tenant(fine.id).slug == "fine"


def test_concurrent_commands_share_commits_and_all_land(registry: TenantRegistry) -> None:
    tenants = [
        registry.register(slug=f"t-{i}", name=f"T {i}", actor="key:test").tenant.id
        for i in range(12)
    ]
    before = registry.committer.groups
    barrier = threading.Barrier(len(tenants))
    errors: list[BaseException] = []

    def walk(tenant_id: object) -> None:
        try:
            barrier.wait()
            for command in (Command.ACTIVATE, Command.PAUSE, Command.ACTIVATE, Command.CANCEL):
                registry.run(command, tenant_id, actor="key:test")  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=walk, args=(t,)) for t in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for tenant_id in tenants:
        tenant = registry.get_tenant(tenant_id)
        assert (tenant.version, tenant.status.value) == (5, "cancelled")
    positions = [e.position for e in registry.feed(after=0, limit=1000)]
    assert positions == sorted(positions)
    assert len(positions) == len(set(positions)) == 12 * 5
    # 48 saves; whether any shared a commit depends on the scheduler, so only bound it.
    assert registry.committer.groups - before <= 48


@pytest.mark.parametrize("size", [1, 3])
def test_a_group_of_answers_only_writes_no_events(registry: TenantRegistry, size: int) -> None:
    outcomes = registry.tenant_recorder.save_many([Save() for _ in range(size)])
    assert outcomes == [[] for _ in range(size)]


def test_saves_queued_behind_a_commit_share_the_next_one(
    registry: TenantRegistry, settings: Settings
) -> None:
    tenants = [_new(registry, f"q-{i}") for i in range(5)]
    committer = registry.committer
    results: list[object] = []
    with psycopg.connect(settings.database_url) as blocker:
        # Hold the event table's lock: the first save waits on it, the others queue up.
        blocker.execute("LOCK TABLE tenant_registry.tenantregistry_events IN EXCLUSIVE MODE")
        threads = [
            threading.Thread(
                target=lambda t=t: results.append(committer.save(_pending(registry, t)))
            )
            for t in tenants
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(committer._queue) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(committer._queue) == 4
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 5
    assert committer.largest_group == 4
    for tenant in tenants:
        assert registry.get_tenant(tenant.id).version == 1


def test_a_save_refused_after_its_first_event_reports_no_position(
    registry: TenantRegistry,
) -> None:
    """The save function returns a save's positions as it inserts them; when a later event of
    the same save conflicts, its subtransaction rolls back and it must be reported refused,
    with none of its rows stored, while the group's other save lands."""
    taken = registry.register(slug="taken-later", name="Taken", actor="key:test").tenant
    stale = registry.get_tenant(taken.id)
    registry.run(Command.ACTIVATE, taken.id, actor="key:test")  # version 2 is taken now
    stale.pause(now=registry.clock.now(), actor="key:stale")  # also version 2
    fresh, other = _new(registry, "fresh-first"), _new(registry, "other-save")
    both = Save(events=[*_pending(registry, fresh).events, *_pending(registry, stale).events])
    outcomes = registry.tenant_recorder.save_many([both, _pending(registry, other)])
    assert isinstance(outcomes[0], IntegrityError)
    assert isinstance(outcomes[1], list) and len(outcomes[1]) == 1
    assert registry.tenant_recorder.select_current([fresh.id]) == {}
    assert registry.get_tenant(other.id).version == 1


@pytest.mark.parametrize("shape", ["events only", "with an expectation"])
def test_a_lone_save_is_refused_whole_whichever_path_runs_it(
    registry: TenantRegistry, settings: Settings, shape: str
) -> None:
    """A save alone in its group with nothing but events takes the function's short path;
    with anything else (here an expected version) the general one. Both refuse a purged
    originator and a taken version the same way, and store and announce nothing."""
    taken = registry.register(slug=f"lone-{shape[0]}", name="Lone", actor="key:test").tenant
    stale = registry.get_tenant(taken.id)
    registry.run(Command.ACTIVATE, taken.id, actor="key:test")  # version 2 is taken now
    stale.pause(now=registry.clock.now(), actor="key:stale")  # also version 2
    fresh = _new(registry, f"fresh-{shape[0]}")
    conflict = Save(events=[*_pending(registry, fresh).events, *_pending(registry, stale).events])
    gone = uuid4()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenant_registry.purged_tenants (tenant_id, purged_at) VALUES (%s, now())",
            (gone,),
        )
    (registered,) = _pending(registry, _new(registry, f"ghost-{shape[0]}")).events
    purged = Save(events=[StoredEvent(gone, 1, registered.topic, registered.state)])
    if shape == "with an expectation":
        conflict = Save(events=conflict.events, expected=[(fresh.id, 0)])
        purged = Save(events=purged.events, expected=[(gone, 0)])
    head = registry.head()
    with psycopg.connect(settings.database_url, autocommit=True) as listener:
        listener.execute(f'LISTEN "{EVENTS_CHANNEL}"')
        (refused_conflict,) = registry.tenant_recorder.save_many([conflict])
        (refused_purged,) = registry.tenant_recorder.save_many([purged])
        notifications = list(listener.notifies(timeout=0.5, stop_after=1))
    assert isinstance(refused_conflict, IntegrityError)
    assert isinstance(refused_purged, OriginatorPurged)
    assert registry.tenant_recorder.select_current([fresh.id, gone]) == {}
    assert registry.head() == head
    assert notifications == []
