"""Where a new endpoint starts: at its creation, however far behind the dispatcher is."""

from __future__ import annotations

from psycopg import sql

from application.registry import TenantRegistry
from common.db import connect, table
from common.settings import Settings
from common.tables import WEBHOOK_DELIVERIES_TABLE
from webhooks.dispatcher import Dispatcher
from webhooks.service import WebhookService
from webhooks.store import WebhookStore


def _delivered_positions(settings: Settings) -> list[int]:
    query = sql.SQL("SELECT position FROM {} ORDER BY position").format(
        table(settings, WEBHOOK_DELIVERIES_TABLE)
    )
    with connect(settings) as conn:
        return [int(row["position"]) for row in conn.execute(query).fetchall()]


def _dispatch_everything(settings: Settings, registry: TenantRegistry) -> None:
    dispatcher = Dispatcher(settings, registry, registry.clock)
    with connect(settings) as conn:
        while dispatcher.dispatch_page(conn)[0]:
            pass


def test_a_new_endpoint_gets_no_history_when_the_dispatcher_never_ran(
    settings: Settings, registry: TenantRegistry
) -> None:
    allowed = settings.model_copy(update={"webhooks_allow_private": True})
    with connect(allowed) as conn, conn.transaction():
        WebhookStore(allowed).lock_cursor(conn, 0)  # migrated on an empty store, long ago
    for n in range(3):
        registry.register(slug=f"before-{n}", name=f"Before {n}", actor="test")

    with connect(allowed) as conn:
        endpoint = WebhookService(allowed).create(
            conn,
            url="http://127.0.0.1:9/hook",
            event_types=["TenantRegistered"],
            description="new",
            enabled=True,
            now=registry.clock.now(),
            head=registry.head(),
        )
    assert endpoint.after_position == registry.head()
    _dispatch_everything(allowed, registry)
    assert _delivered_positions(allowed) == []

    after = registry.register(slug="after-it", name="After it", actor="test")
    _dispatch_everything(allowed, registry)
    assert _delivered_positions(allowed) == [
        e.position for e in registry.history(after.tenant.id) if e.type == "TenantRegistered"
    ]


def test_a_dispatcher_far_behind_jumps_to_the_first_endpoints_start_and_replay_covers_it(
    settings: Settings, registry: TenantRegistry
) -> None:
    allowed = settings.model_copy(update={"webhooks_allow_private": True})
    with connect(allowed) as conn, conn.transaction():
        WebhookStore(allowed).lock_cursor(conn, 0)  # migrated on an empty store, long ago
    old = registry.register(slug="old-one", name="Old one", actor="test")
    service = WebhookService(allowed)
    with connect(allowed) as conn:
        endpoint = service.create(
            conn,
            url="http://127.0.0.1:9/hook",
            event_types=["TenantRegistered"],
            description="new",
            enabled=True,
            now=registry.clock.now(),
            head=registry.head(),
        )
        dispatcher = Dispatcher(allowed, registry, registry.clock)
        assert dispatcher.dispatch_page(conn)[0] == 0  # nothing read: the history is skipped
        assert WebhookStore(allowed).lock_cursor(conn, 0) == endpoint.after_position
        replayed = service.replay(conn, registry, endpoint, 0, registry.clock.now())
    assert replayed == 1
    assert _delivered_positions(allowed) == [
        e.position for e in registry.history(old.tenant.id) if e.type == "TenantRegistered"
    ]
