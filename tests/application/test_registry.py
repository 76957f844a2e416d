"""The registry application on real PostgreSQL: commands, history, concurrency, snapshots."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.errors import (
    ConcurrencyConflict,
    InvalidTransition,
    SlugTaken,
    TenantNotFound,
    ValidationFailed,
    VersionMismatch,
)
from domain.lifecycle import Command
from domain.tenant import Tenant


def register(registry: TenantRegistry, slug: str = "acme", **fields: Any) -> Tenant:
    defaults: dict[str, Any] = {"name": "Acme Ltd", "contact_email": "ops@acme.example"}
    defaults.update(fields)
    return registry.register(slug=slug, actor="key:test", **defaults).tenant


def test_registered_tenant_is_stored_with_defaults(registry: TenantRegistry) -> None:
    tenant = register(registry)
    stored = registry.get_tenant(tenant.id)
    assert (stored.slug, stored.status.value, stored.plan, stored.timezone) == (
        "acme",
        "trial",
        "standard",
        "Asia/Jerusalem",
    )
    assert stored.trial_ends_at > registry.clock.now() + timedelta(days=13)
    assert stored.version == 1


def test_history_lists_events_with_positions_actor_and_reason(registry: TenantRegistry) -> None:
    tenant = register(registry)
    registry.run(Command.ACTIVATE, tenant.id, actor="key:billing", reason="paid")
    registry.run(Command.PAUSE, tenant.id, actor="key:ops")
    history = registry.history(tenant.id)
    assert [(e.version, e.type, e.actor, e.reason) for e in history] == [
        (1, "TenantRegistered", "key:test", None),
        (2, "TenantActivated", "key:billing", "paid"),
        (3, "TenantPaused", "key:ops", None),
    ]
    assert history[0].position < history[1].position < history[2].position
    assert history[0].data["slug"] == "acme"


def test_refused_command_records_nothing(registry: TenantRegistry) -> None:
    tenant = register(registry)
    with pytest.raises(InvalidTransition) as refused:
        registry.run(Command.REACTIVATE, tenant.id, actor="key:test")
    assert refused.value.allowed == ("activate", "pause", "cancel")
    assert len(registry.history(tenant.id)) == 1


def test_no_op_repeat_records_nothing_and_answers_the_head(registry: TenantRegistry) -> None:
    tenant = register(registry)
    first = registry.run(Command.ACTIVATE, tenant.id, actor="key:test")
    again = registry.run(Command.ACTIVATE, tenant.id, actor="key:test")
    assert (first.changed, again.changed) == (True, False)
    assert again.position == registry.head()
    assert len(registry.history(tenant.id)) == 2


def test_unknown_tenant_is_not_found(registry: TenantRegistry) -> None:
    with pytest.raises(TenantNotFound):
        registry.run(Command.ACTIVATE, uuid4(), actor="key:test")


def test_slug_is_unique(registry: TenantRegistry) -> None:
    register(registry)
    with pytest.raises(SlugTaken):
        register(registry, name="Other")


def test_invalid_registration_stores_nothing(registry: TenantRegistry) -> None:
    with pytest.raises(ValidationFailed):
        register(registry, slug="NO")
    assert registry.head() == 0


def test_expected_version_must_match(registry: TenantRegistry) -> None:
    tenant = register(registry)
    registry.run(Command.ACTIVATE, tenant.id, actor="key:test", expected_version=1)
    with pytest.raises(VersionMismatch) as mismatch:
        registry.run(Command.PAUSE, tenant.id, actor="key:test", expected_version=1)
    assert (mismatch.value.expected, mismatch.value.actual) == (1, 2)


def test_two_threads_registering_one_slug_one_wins(settings: Settings) -> None:
    apps = [TenantRegistry(settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(app: TenantRegistry) -> None:
        barrier.wait()
        try:
            app.register(slug="contested", name="X", actor="key:test")
            outcomes.append("won")
        except SlugTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=attempt, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for app in apps:
        app.close()
    assert sorted(outcomes) == ["taken", "won"]


def test_twenty_threads_of_conflicting_commands_lose_nothing(settings: Settings) -> None:
    setup = TenantRegistry(settings)
    tenant_id = register(setup).id
    apps = [TenantRegistry(settings) for _ in range(4)]  # several processes' worth of caches
    barrier = threading.Barrier(20)
    changed: Counter[str] = Counter()
    lock = threading.Lock()
    cycle = ("activate", "pause", "activate", "start-grace", "activate", "cancel", "reactivate")

    def worker(n: int) -> None:
        app = apps[n % len(apps)]
        barrier.wait()
        for i in range(15):
            command = cycle[(n + i) % len(cycle)]
            try:
                result = app.run(command, tenant_id, actor=f"key:t{n}")
            except (InvalidTransition, ConcurrencyConflict):
                continue
            if result.changed:
                with lock:
                    changed[command] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = setup.history(tenant_id)
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert len(history) == 1 + sum(changed.values())
    replayed: Tenant = setup.repository.get(tenant_id)  # every event, no cache
    assert replayed.version == len(history)
    assert setup.get_tenant(tenant_id).status == replayed.status
    for app in [setup, *apps]:
        app.close()


def test_stale_cached_copy_never_decides_a_no_op(settings: Settings, clock: FrozenClock) -> None:
    first, second = TenantRegistry(settings, clock), TenantRegistry(settings, clock)
    tenant_id = first.register(slug="acme", name="Acme", actor="key:a").tenant.id
    first.run(Command.ACTIVATE, tenant_id, actor="key:a")  # first caches "active"
    second.run(Command.PAUSE, tenant_id, actor="key:b")  # another process pauses it
    result = first.run(Command.ACTIVATE, tenant_id, actor="key:a")
    assert result.changed
    assert result.tenant.version == 4
    first.close()
    second.close()


def test_metadata_that_looks_like_a_stored_type_tag_round_trips(registry: TenantRegistry) -> None:
    tricky = {"x": {"_type_": "uuid", "_data_": "0" * 32}, "y": {"_type_": "dict", "_data_": []}}
    tenant = register(registry, metadata=tricky)
    assert registry.get_tenant(tenant.id).metadata == tricky
    assert registry.history(tenant.id)[0].data["metadata"] == tricky


def test_long_history_loads_from_snapshot_and_a_bounded_tail(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = TenantRegistry(settings, clock)
    tenant = register(app)
    for batch in range(20):
        for i in range(500):
            clock.advance(timedelta(seconds=1))
            tenant.update_profile(now=clock.now(), actor="key:test", plan=f"p{batch}-{i}")
        app._save(tenant)
    for i in range(37):
        tenant.update_profile(now=clock.now(), actor="key:test", plan=f"tail-{i}")
        app._save(tenant)
    assert tenant.version == 10_038

    rows_read: list[int] = []
    select_events = app.recorder.select_events

    def counting_select(*args: Any, **kwargs: Any) -> Any:
        rows = select_events(*args, **kwargs)
        rows_read.append(len(rows))
        return rows

    monkeypatch.setattr(app.recorder, "select_events", counting_select)
    loaded = app.get_tenant(tenant.id)
    assert loaded.version == 10_038
    assert loaded.plan == "tail-36"
    assert sum(rows_read) < settings.snapshot_interval
    app.close()
