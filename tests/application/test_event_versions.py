"""Events are ``class_version`` 2 (with ``correlation_id``); stored version 1 events still load."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.persistence import StoredEvent

from application.cause import Cause
from application.recorder import Save
from application.registry import TenantRegistry
from domain.lifecycle import Command, Sweep
from domain.tenant import Tenant
from tests.domain.factories import ACTOR, new_tenant


def _as_version_1(registry: TenantRegistry, stored: StoredEvent) -> StoredEvent:
    """The event as the code before correlation ids wrote it: no class_version, no id."""
    transcoder = registry.mapper.transcoder
    state = transcoder.decode(stored.state)
    del state["class_version"], state["correlation_id"]
    return StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, transcoder.encode(state)
    )


def test_every_event_records_its_correlation_id(registry: TenantRegistry) -> None:
    tenant = registry.register(slug="acme", name="Acme", actor=Cause("key:a", "req-1")).tenant
    registry.run(Command.ACTIVATE, tenant.id, actor=Cause("key:b", "req-2"), reason="paid")
    history = registry.history(tenant.id)
    assert [(e.actor, e.correlation_id, e.reason) for e in history] == [
        ("key:a", "req-1", None),
        ("key:b", "req-2", "paid"),
    ]
    assert "correlation_id" not in history[0].data
    assert "class_version" not in history[0].data


def test_a_bare_actor_gets_a_fresh_correlation_id(registry: TenantRegistry) -> None:
    tenant = registry.register(slug="acme", name="Acme", actor="import").tenant
    (event,) = registry.history(tenant.id)
    assert event.correlation_id is not None
    assert len(event.correlation_id) == 32


def test_version_1_events_stored_before_correlation_ids_still_load(
    registry: TenantRegistry,
) -> None:
    tenant = new_tenant(registry.clock.now(), slug="old", name="Old Ltd")
    tenant.activate(now=registry.clock.now(), actor=ACTOR)
    stored = [registry.mapper.to_stored_event(e) for e in tenant.collect_events()]
    registry.tenant_recorder.save(Save(events=[_as_version_1(registry, s) for s in stored]))

    loaded = registry.get_tenant(tenant.id)
    assert (loaded.version, loaded.status.value, loaded.name) == (2, "active", "Old Ltd")
    history = registry.history(tenant.id)
    assert [(e.type, e.actor, e.correlation_id) for e in history] == [
        ("TenantRegistered", ACTOR, None),
        ("TenantActivated", ACTOR, None),
    ]
    event = registry.mapper.to_domain_event(_as_version_1(registry, stored[1]))
    assert isinstance(event, Tenant.Activated)
    assert event.correlation_id is None
    # And the tenant moves on with version 2 events beside its version 1 ones.
    registry.run(Command.PAUSE, tenant.id, actor=Cause("key:ops", "req-9"))
    assert registry.history(tenant.id)[-1].correlation_id == "req-9"


def test_sweep_events_record_the_sweep_run(registry: TenantRegistry) -> None:
    tenant = registry.register(slug="late", name="Late", actor="key:a").tenant
    registry.clock.advance(timedelta(days=20))  # type: ignore[attr-defined]
    run = Cause(Sweep.TRIALS.actor, "rq-job-42")
    assert registry.sweep_one(Sweep.TRIALS, tenant.id, actor=run) == "changed"
    last = registry.history(tenant.id)[-1]
    assert (last.type, last.actor, last.correlation_id) == (
        "TenantTrialExpired",
        "sweep:trials",
        "rq-job-42",
    )
