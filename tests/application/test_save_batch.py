"""Bulk saves (seeding, imports) go through the same event store as commands."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.recorder import Save
from application.registry import TenantRegistry
from common.clock import FrozenClock
from domain.errors import SlugTaken
from domain.slug_index import SlugIndex
from domain.tenant import Tenant


def _tenant(slug: str, clock: FrozenClock) -> Tenant:
    return Tenant.register(
        slug=slug,
        name=f"{slug} Ltd",
        timezone="UTC",
        plan="standard",
        contact_email=None,
        metadata={},
        trial_days=14,
        now=clock.now(),
        actor="test",
    )


def _claim(tenant: Tenant) -> SlugIndex:
    return SlugIndex.claim(slug=tenant.slug, tenant_id=tenant.id, now=tenant.created_on)


def test_batch_saved_tenants_load_and_hold_their_slugs(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    tenants = [_tenant(f"bulk-{n}", clock) for n in range(3)]
    tenants[0].activate(now=clock.now() + timedelta(hours=1), actor="test")
    positions = registry.save_batch([*tenants, *(_claim(t) for t in tenants)])
    assert len(positions) == 7
    assert registry.get_tenant(tenants[0].id).status.value == "active"
    with pytest.raises(SlugTaken):
        registry.register(slug="bulk-1", name="Other", actor="test")


def test_batch_with_a_taken_slug_saves_nothing(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    registry.register(slug="taken", name="First", actor="test")
    fresh, clash = _tenant("fresh", clock), _tenant("taken", clock)
    with pytest.raises(IntegrityError):
        registry.save_batch([fresh, clash, _claim(fresh), _claim(clash)])
    assert registry.head() == 2  # only the first registration and its claim


def test_batch_takes_a_snapshot_when_a_tenant_crosses_the_interval(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    tenant = _tenant("busy", clock)
    interval = registry.settings.snapshot_interval
    for n in range(interval):  # pause/activate until the version passes the interval
        at = clock.now() + timedelta(minutes=n + 1)
        if n % 2:
            tenant.activate(now=at, actor="test")
        else:
            tenant.pause(now=at, actor="test")
    registry.save_batch([tenant])
    assert registry.snapshots is not None
    snapshots = list(registry.snapshots.get(tenant.id))
    assert [s.originator_version for s in snapshots] == [tenant.version]
    assert registry.get_tenant(tenant.id).version == interval + 1


def test_events_and_snapshots_keep_every_byte_and_character(registry: TenantRegistry) -> None:
    """Saves send events and snapshots as array literals built in Python (not psycopg's list
    dumper): quotes, backslashes, commas, braces and every byte value must arrive intact."""
    originator = uuid4()
    topic = 'odd.topic:A"quote\\back,slash{brace} é'
    states = [bytes(range(256)), b'{"k": "\\"x\\\\"}', b""]
    stored = [StoredEvent(originator, v, topic, s) for v, s in enumerate(states, start=1)]
    snapshot = StoredEvent(originator, 3, topic, bytes(reversed(range(256))))
    registry.tenant_recorder.save(Save(events=stored, snapshots=[snapshot]))

    assert registry.tenant_recorder.select_events(originator) == stored
    assert registry.snapshots is not None
    assert registry.snapshots.recorder.select_events(originator) == [snapshot]
