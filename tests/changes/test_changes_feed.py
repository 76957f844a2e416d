"""``GET /v1/tenants/changes``: the compacted feed a consumer bootstraps its copy from."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from application.registry import TenantRegistry
from cli.cmd_core import migrate_all
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command
from projections.models import Change
from projections.queries import ReadModel
from projections.rebuild import rebuild
from projections.runner import catch_up
from projections.schema import PURGED, TENANTS
from tests.api.conftest import Headers, MakeKey, bearer, command, project, purge, register
from tests.resilience.conftest import new_database, settings_for


def changes(client: TestClient, headers: Headers, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/tenants/changes", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: TestClient, headers: Headers, after: int = 0, limit: int = 2) -> list[Any]:
    """Every item after ``after``, page by page."""
    items: list[Any] = []
    while True:
        page = changes(client, headers, after=after, limit=limit)
        items.extend(page["data"])
        if not page["data"]:
            assert page["next_after"] == after
            return items
        after = page["next_after"]
        assert after == page["data"][-1]["position"]


def test_a_tenant_changed_many_times_appears_once_in_its_current_state(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    first = register(client, admin, "acme")
    other = register(client, admin, "globex")
    for name in ("activate", "pause", "activate"):
        last = command(client, admin, first["id"], name)
    project(settings)
    items = walk(client, admin)
    assert [i["tenant_id"] for i in items] == [other["id"], first["id"]]
    assert items[1]["tenant"] == last.json()
    assert items[1]["position"] == int(last.headers["x-event-position"])
    assert [i["position"] for i in items] == sorted(i["position"] for i in items)
    assert "position" not in items[1]["tenant"]


def test_after_a_position_only_later_changes_appear(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    first = register(client, admin, "acme")
    second = register(client, admin, "globex")
    project(settings)
    after = changes(client, admin)["next_after"]
    command(client, admin, first["id"], "activate")
    project(settings)
    page = changes(client, admin, after=after)
    assert [i["tenant_id"] for i in page["data"]] == [first["id"]]
    assert second["id"] not in {i["tenant_id"] for i in page["data"]}


def test_soft_deleted_tenants_are_included(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "cancel")
    command(client, admin, tenant["id"], "delete")
    project(settings)
    (item,) = changes(client, admin)["data"]
    assert item["tenant"]["deleted_at"] is not None


def test_a_purged_tenant_is_a_purge_item_and_its_earlier_items_are_gone(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    kept = register(client, admin, "kept")
    doomed = register(client, admin, "doomed", contact_email="pii@doomed.example")
    project(settings)
    before = changes(client, admin)["data"]
    purge(settings, clock, doomed["id"])
    project(settings)
    items = walk(client, admin)
    assert [i["tenant_id"] for i in items] == [kept["id"], doomed["id"]]
    purged = items[1]
    assert purged["tenant"] is None
    assert purged["purged_at"] is not None
    assert purged["position"] > max(i["position"] for i in before)
    history = client.get("/v1/events", params={"type": "TenantPurged"}, headers=admin).json()
    assert history["data"][-1]["position"] == purged["position"]
    assert "pii@doomed.example" not in str(items)


def test_a_rebuild_keeps_every_position(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    tenants = [register(client, admin, f"t-{n:03d}") for n in range(4)]
    command(client, admin, tenants[0]["id"], "activate")
    purge(settings, clock, tenants[1]["id"])
    project(settings)
    before = walk(client, admin, limit=500)
    rebuild(settings)
    assert walk(client, admin, limit=500) == before


def test_existing_tables_get_positions_from_the_store(clock: FrozenClock) -> None:
    """A database migrated before the changes feed: ``migrate`` adds and fills the column.

    On a database of its own: the test takes the column away from the live tables.
    """
    with new_database() as url:
        settings = settings_for(url).model_copy(update={"pool_size": 2})
        registry = TenantRegistry(settings, clock)
        try:
            tenant = registry.register(slug="acme", name="Acme", actor="key:test").tenant
            registry.run(Command.ACTIVATE, tenant.id, actor="key:test")
            doomed = registry.register(slug="doomed", name="Doomed", actor="key:test").tenant
            registry.run(Command.CANCEL, doomed.id, actor="key:test")
            registry.run(Command.DELETE, doomed.id, actor="key:test")
            clock.advance(timedelta(days=settings.retention_days + 1))
            assert registry.purge(doomed.id) == "changed"
        finally:
            registry.close()
        catch_up(settings)
        before = _changes(settings)
        assert [c.tenant is None for c in before] == [False, True]
        _drop_positions(settings)
        migrate_all(settings)
        assert _changes(settings) == before


def _changes(settings: Settings) -> list[Change]:
    read_model = ReadModel(settings)
    try:
        return read_model.changes(after=0, limit=1000)
    finally:
        read_model.close()


def _drop_positions(settings: Settings) -> None:
    """Make the live generation look as it did before the changes feed."""
    schema = settings.db_schema
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for view, table in ((TENANTS, "tenants_g"), (PURGED, "tenants_purged_g")):
            generation = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ %s",
                (schema, f"^{table}[0-9]+$"),
            ).fetchone()
            assert generation is not None
            physical = sql.Identifier(schema, generation[0])
            conn.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(schema, view)))
            conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN position").format(physical))
            conn.execute(
                sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                    sql.Identifier(schema, view), physical
                )
            )


def test_limit_is_bounded_and_scope_is_tenants_read(client: TestClient, make_key: MakeKey) -> None:
    reader = bearer(make_key("tenants:read"))
    writer = bearer(make_key("tenants:write"))
    assert changes(client, reader, limit=1000)["data"] == []
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": -1}):
        response = client.get("/v1/tenants/changes", params=bad, headers=reader)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/tenants/changes", headers=writer).status_code == 403
    assert client.get("/v1/tenants/changes").status_code == 401


def test_min_position_waits_for_the_read_side(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    tenant = register(client, admin, "acme")
    position = command(client, admin, tenant["id"], "activate").headers["x-event-position"]
    project(settings)
    page = changes(client, admin, min_position=position)
    assert page["data"][0]["tenant"]["status"] == "active"


def test_the_route_is_documented_with_its_model(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/tenants/changes"]["get"]
    assert operation["operationId"] == "listTenantChanges"
    assert "ChangeFeed" in str(operation["responses"]["200"])
