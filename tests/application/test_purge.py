"""Purge erases a tenant's data from the event store and frees its slug."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from application.recorder import OriginatorPurged
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.errors import InvalidTransition, TenantGone
from domain.lifecycle import Command
from domain.tenant import Tenant

MARKERS = ("Zq7MarkerName", "zq7marker@pii.example", "Zq7MarkerMeta")


def deleted_tenant(registry: TenantRegistry, slug: str = "doomed") -> Tenant:
    tenant = registry.register(
        slug=slug,
        name=f"{MARKERS[0]} Ltd",
        contact_email=MARKERS[1],
        metadata={"note": MARKERS[2], "nested": {"deep": [MARKERS[2]]}},
        actor="key:test",
    ).tenant
    registry.update_profile(tenant.id, {"name": f"{MARKERS[0]} Two"}, actor="key:test")
    registry.run(Command.CANCEL, tenant.id, actor="key:test")
    registry.run(Command.DELETE, tenant.id, actor="key:test")
    return tenant


def raw_dump(settings: Settings) -> str:
    """Every row of every table in the registry's schema as text, bytea decoded as UTF-8."""
    chunks: list[str] = []
    with psycopg.connect(settings.database_url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (settings.db_schema,)
        ).fetchall()
        for (name,) in tables:
            query = sql.SQL("SELECT t::text FROM {} AS t").format(
                sql.Identifier(settings.db_schema, name)
            )
            for (row,) in conn.execute(query).fetchall():
                chunks.append(row)
                chunks.extend(
                    bytes.fromhex(hexdigits).decode("utf-8", "replace")
                    for hexdigits in re.findall(r"\\x([0-9a-f]+)", row)
                )
    return "\n".join(chunks)


def test_purge_removes_every_trace_of_pii(
    registry: TenantRegistry, settings: Settings, clock: FrozenClock
) -> None:
    tenant = deleted_tenant(registry)
    assert all(marker in raw_dump(settings) for marker in MARKERS)  # the scan can see them

    clock.advance(timedelta(days=90, seconds=1))
    assert registry.purge(tenant.id) == "changed"

    dump = raw_dump(settings)
    assert not [marker for marker in MARKERS if marker in dump]


def test_purged_tenant_is_gone_and_history_keeps_one_pii_free_event(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    tenant = deleted_tenant(registry)
    clock.advance(timedelta(days=91))
    registry.purge(tenant.id)
    with pytest.raises(TenantGone) as gone:
        registry.get_tenant(tenant.id)
    assert gone.value.purged_at == clock.now()
    with pytest.raises(TenantGone):
        registry.history(tenant.id)
    with pytest.raises(TenantGone):
        registry.run(Command.RESTORE, tenant.id, actor="key:test")
    (purged,) = registry.feed(after=0, limit=100, types=["TenantPurged"])
    assert (purged.tenant_id, purged.actor, purged.data) == (
        tenant.id,
        "sweep:purge",
        {"purged_at": clock.now()},
    )


def test_slug_is_free_again_after_purge(registry: TenantRegistry, clock: FrozenClock) -> None:
    tenant = deleted_tenant(registry)
    clock.advance(timedelta(days=91))
    registry.purge(tenant.id)
    again = registry.register(slug="doomed", name="New Owner", actor="key:test").tenant
    assert again.id != tenant.id
    assert registry.get_tenant(again.id).name == "New Owner"


def test_purge_before_retention_ends_changes_nothing(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    tenant = deleted_tenant(registry)
    clock.advance(timedelta(days=89))
    assert registry.purge(tenant.id) == "skipped"
    assert registry.get_tenant(tenant.id).is_deleted
    with pytest.raises(InvalidTransition):
        registry.run(Command.REACTIVATE, tenant.id, actor="key:test")


def test_stale_writer_cannot_resurrect_a_purged_tenant(
    settings: Settings, clock: FrozenClock
) -> None:
    stale, sweeper = TenantRegistry(settings, clock), TenantRegistry(settings, clock)
    tenant = deleted_tenant(stale)
    # A writer still holding version 3 (from before the purge) later tries to append version 4.
    old_copy: Tenant = stale.repository.get(tenant.id, version=3)
    clock.advance(timedelta(days=91))
    sweeper.purge(tenant.id)
    old_copy.update_profile(now=clock.now(), actor="key:stale", name="Back From The Dead")
    with pytest.raises(OriginatorPurged):
        stale._save(old_copy)
    with pytest.raises(TenantGone):
        stale.get_tenant(tenant.id)
    stale.close()
    sweeper.close()
