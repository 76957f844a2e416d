"""Event evolution: v1 events stored by earlier code read the same as v2 ones, everywhere.

Every tenant event's v2 added ``correlation_id`` (upcast from v1 as ``None``). The v1 rows
below are the exact bytes the v1 code wrote (captured from a store before the change); they
sit in one store beside v2 events written by today's code, and every reader — the aggregate,
history, the feed, the projector and a rebuild — goes through ``domain.evolution.upcast``.
"""

from __future__ import annotations

from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from application.cause import Cause
from application.registry import TenantRegistry
from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.evolution import upcast
from domain.lifecycle import Command
from domain.tenant import Tenant
from projections.queries import ReadModel
from projections.rebuild import rebuild
from projections.runner import catch_up
from tests.projections.conftest import expected_row, table_snapshot

LEGACY = UUID("4b7d4e0a-2c1f-4a53-9a52-6f1d0c9a7e11")
#: ``TenantRegistered`` and ``TenantActivated`` exactly as the v1 code stored them.
V1_REGISTERED = (
    b'{"timestamp":{"_type_":"datetime","_data_":"2026-12-02T00:02:25.293402+00:00"},'
    b'"originator_topic":"tenant-registry:Tenant","actor":"key:ops","reason":null,'
    b'"slug":"legacy","name":"Legacy Ltd","timezone":"Asia/Jerusalem","plan":"standard",'
    b'"contact_email":"it@legacy.example","metadata":{},'
    b'"trial_ends_at":{"_type_":"datetime","_data_":"2026-12-15T22:00:00+00:00"}}'
)
V1_ACTIVATED = (
    b'{"timestamp":{"_type_":"datetime","_data_":"2026-12-02T00:02:26.589460+00:00"},'
    b'"actor":"key:ops","reason":"paid"}'
)


def _store_v1(registry: TenantRegistry) -> None:
    registry.tenant_recorder.insert_events(
        [
            StoredEvent(LEGACY, 1, Tenant.Registered.TOPIC, V1_REGISTERED),
            StoredEvent(LEGACY, 2, Tenant.Activated.TOPIC, V1_ACTIVATED),
        ]
    )


def _stored_state(settings: Settings, tenant_id: UUID) -> dict[str, object]:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT state FROM {} WHERE originator_id = %s AND originator_version = 1"
            ).format(sql.Identifier(settings.db_schema, EVENTS_TABLE)),
            (tenant_id,),
        ).fetchone()
    assert row is not None
    state = orjson.loads(bytes(row[0]))
    assert isinstance(state, dict)
    return state


def test_v1_and_v2_registrations_in_one_store_read_alike_everywhere(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    _store_v1(registry)
    cause = Cause("key:ops", "req-123")
    current = registry.register(slug="modern", name="Modern Ltd", actor=cause)
    registry.run(Command.ACTIVATE, current.tenant.id, actor=cause)
    modern = current.tenant.id
    assert "class_version" not in _stored_state(settings, LEGACY)
    assert _stored_state(settings, modern)["class_version"] == 2

    # The aggregate (the library's repository, through the application's mapper).
    for tenant_id, expected in ((LEGACY, None), (modern, "req-123")):
        events = list(registry.events.get(tenant_id))
        assert [e.correlation_id for e in events] == [expected] * 2  # type: ignore[attr-defined]
    legacy = registry.get_tenant(LEGACY)
    assert (legacy.slug, legacy.status, legacy.version) == ("legacy", "active", 2)

    # History and the feed.
    assert [e.correlation_id for e in registry.history(LEGACY)] == [None, None]
    assert [e.correlation_id for e in registry.history(modern)] == ["req-123"] * 2
    feed = registry.feed(after=0, limit=100, types=["TenantRegistered", "TenantActivated"])
    assert [(e.tenant_id, e.type, e.correlation_id) for e in feed] == [
        (LEGACY, "TenantRegistered", None),
        (LEGACY, "TenantActivated", None),
        (modern, "TenantRegistered", "req-123"),
        (modern, "TenantActivated", "req-123"),
    ]
    assert all("class_version" not in e.data for e in feed)

    # The projector, then a rebuild from position 0: the same rows as replaying the aggregates.
    catch_up(settings)
    for tenant_id in (LEGACY, modern):
        assert read_model.get(tenant_id) == expected_row(registry.get_tenant(tenant_id))
    projected = table_snapshot(settings)
    rebuild(settings)
    assert table_snapshot(settings) == projected


def test_upcast_walks_the_chain_and_drops_the_stored_version() -> None:
    class Event:
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["b"] = 2

        @staticmethod
        def upcast_v2_v3(state: dict[str, object]) -> None:
            state["c"] = state.pop("b")

    assert upcast(Event, {"a": 1}) == {"a": 1, "c": 2}
    assert upcast(Event, {"a": 1, "b": 5, "class_version": 2}) == {"a": 1, "c": 5}
    assert upcast(Event, {"a": 1, "class_version": 3}) == {"a": 1}
