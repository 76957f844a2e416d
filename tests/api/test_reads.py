"""Reads over HTTP: one tenant, lists, history, the feed, stats, projections, min_position."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, command, project, purge, register


def test_get_returns_the_projected_tenant_with_its_etag(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    tenant = register(client, admin, "acme", metadata={"tier": 2})
    project(settings)
    response = client.get(f"/v1/tenants/{tenant['id']}", headers=admin)
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.json() == tenant


def test_get_shows_a_soft_deleted_tenant_with_deleted_at(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "cancel")
    command(client, admin, tenant["id"], "delete")
    project(settings)
    body = client.get(f"/v1/tenants/{tenant['id']}", headers=admin).json()
    assert body["deleted_at"] is not None
    assert body["status"] == "cancelled"


def test_get_of_an_unknown_tenant_is_404(client: TestClient, admin: Headers) -> None:
    response = client.get(f"/v1/tenants/{uuid4()}", headers=admin)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_malformed_tenant_id_is_a_validation_error(client: TestClient, admin: Headers) -> None:
    assert client.get("/v1/tenants/not-a-uuid", headers=admin).status_code == 422


def test_purged_tenant_is_gone_from_reads_and_history(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    tenant = register(client, admin, "acme", contact_email="a@acme.example")
    purge(settings, clock, tenant["id"])
    project(settings)
    for path in (f"/v1/tenants/{tenant['id']}", f"/v1/tenants/{tenant['id']}/events"):
        response = client.get(path, headers=admin)
        assert response.status_code == 410, path
        assert response.json()["type"].endswith("/gone")
    feed = client.get("/v1/events", headers=admin).json()["data"]
    assert [(e["type"], e["actor"]) for e in feed] == [("TenantPurged", "sweep:purge")]
    assert list(feed[0]["data"]) == ["purged_at"]


def test_min_position_waits_for_the_read_side(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    response = client.post("/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin)
    position = response.headers["x-event-position"]
    later = threading.Timer(0.3, project, args=(settings,))  # the projector, a bit behind
    later.start()
    try:
        read = client.get(
            f"/v1/tenants/{response.json()['id']}",
            params={"min_position": position},
            headers=admin,
        )
    finally:
        later.join()
    assert read.status_code == 200
    assert read.json()["slug"] == "acme"


def test_min_position_the_read_side_does_not_reach_answers_503_lagging(
    admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    impatient = settings.model_copy(update={"api_min_position_wait_seconds": 0.3})
    with TestClient(create_app(impatient, clock)) as client:
        created = client.post("/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin)
        position = created.headers["x-event-position"]  # never projected: no projector here
        started = time.monotonic()
        response = client.get("/v1/stats", params={"min_position": position}, headers=admin)
        assert time.monotonic() - started >= 0.3  # it did wait
    assert response.status_code == 503
    assert response.json()["type"].endswith("/projection-lagging")
    assert response.headers["retry-after"] == "1"


def test_min_position_beyond_the_newest_event_is_a_validation_error(
    client: TestClient, admin: Headers
) -> None:
    response = client.get("/v1/stats", params={"min_position": 10**9}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.min_position"


@pytest.fixture
def population(client: TestClient, admin: Headers, settings: Settings) -> dict[str, str]:
    """Five tenants in several states (one deleted), projected; slug -> id."""
    ids = {}
    for slug, plan in [
        ("alpha", "pro"),
        ("bravo", "standard"),
        ("alpine", "pro"),
        ("charlie", "standard"),
        ("delta", "pro"),
    ]:
        ids[slug] = register(client, admin, slug, plan=plan)["id"]
    command(client, admin, ids["bravo"], "activate")
    command(client, admin, ids["delta"], "cancel")
    command(client, admin, ids["delta"], "delete")
    project(settings)
    return ids


def _slugs(client: TestClient, admin: Headers, **params: str) -> list[str]:
    response = client.get("/v1/tenants", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return [t["slug"] for t in response.json()["data"]]


def test_list_filters_by_status_plan_and_text(
    client: TestClient, admin: Headers, population: dict[str, str]
) -> None:
    assert set(_slugs(client, admin)) == {"alpha", "bravo", "alpine", "charlie"}
    assert _slugs(client, admin, status="active") == ["bravo"]
    assert set(_slugs(client, admin, plan="pro")) == {"alpha", "alpine"}
    assert set(_slugs(client, admin, q="alp")) == {"alpha", "alpine"}
    assert set(_slugs(client, admin, q="HARL")) == {"charlie"}  # name contains, any case
    assert "delta" in _slugs(client, admin, include_deleted="true")


def test_list_pages_through_every_tenant_once(
    client: TestClient, admin: Headers, population: dict[str, str]
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "include_deleted": "true"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/tenants", params=params, headers=admin).json()
        seen += [t["slug"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(population)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"status": "frozen"},
        {"cursor": "not-a-cursor"},
        {"min_position": -1},
    ],
)
def test_list_refuses_bad_parameters(
    client: TestClient, admin: Headers, params: dict[str, Any]
) -> None:
    response = client.get("/v1/tenants", params=params, headers=admin)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")


def test_history_is_in_version_order_with_event_fields(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    for name in ("activate", "start-grace", "activate", "cancel"):
        command(client, admin, tenant["id"], name)
    events = client.get(f"/v1/tenants/{tenant['id']}/events", headers=admin).json()["data"]
    assert [e["type"] for e in events] == [
        "TenantRegistered",
        "TenantActivated",
        "TenantGracePeriodStarted",
        "TenantActivated",
        "TenantCancelled",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert set(events[0]) == {
        "position",
        "tenant_id",
        "version",
        "type",
        "occurred_at",
        "actor",
        "correlation_id",
        "reason",
        "data",
    }
    assert events[2]["data"] == {"grace_ends_at": "2027-01-16T22:00:00+00:00"}


def test_history_of_an_unknown_tenant_is_404(client: TestClient, admin: Headers) -> None:
    assert client.get(f"/v1/tenants/{uuid4()}/events", headers=admin).status_code == 404


def test_feed_pages_forward_and_filters_by_type(client: TestClient, admin: Headers) -> None:
    first = register(client, admin, "acme")
    second = register(client, admin, "bravo")
    command(client, admin, first["id"], "activate")
    page = client.get("/v1/events", params={"limit": 2}, headers=admin).json()
    assert [e["type"] for e in page["data"]] == ["TenantRegistered", "TenantRegistered"]
    assert page["next_after"] == page["data"][-1]["position"]
    rest = client.get("/v1/events", params={"after": page["next_after"]}, headers=admin).json()
    assert [(e["type"], e["tenant_id"]) for e in rest["data"]] == [("TenantActivated", first["id"])]
    empty = client.get("/v1/events", params={"after": rest["next_after"]}, headers=admin).json()
    assert empty == {"data": [], "next_after": rest["next_after"]}
    only = client.get(
        "/v1/events",
        params=[("type", "TenantActivated"), ("type", "TenantCancelled")],
        headers=admin,
    ).json()
    assert [e["tenant_id"] for e in only["data"]] == [first["id"]]
    assert second["id"] not in {e["tenant_id"] for e in only["data"]}


@pytest.mark.parametrize(
    "params", [{"type": "TenantExploded"}, {"limit": 501}, {"limit": 0}, {"after": -1}]
)
def test_feed_refuses_bad_parameters(
    client: TestClient, admin: Headers, params: dict[str, Any]
) -> None:
    assert client.get("/v1/events", params=params, headers=admin).status_code == 422


def test_stats_count_by_status_and_deleted_apart(
    client: TestClient, admin: Headers, population: dict[str, str]
) -> None:
    response = client.get("/v1/stats", headers=admin)
    assert response.status_code == 200
    assert response.json() == {
        "total": 4,
        "by_status": {"trial": 3, "active": 1, "grace": 0, "paused": 0, "cancelled": 0},
        "deleted": 1,
    }


def test_projections_report_the_tenants_projection(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    register(client, admin, "acme")
    project(settings)
    data = client.get("/v1/projections", headers=admin).json()["data"]
    tenants = next(p for p in data if p["name"] == "tenants")
    assert tenants["lag_events"] == tenants["head"] - tenants["position"] == 0
    assert tenants["state"] in {"running", "standby", "stopped", "rebuilding"}
    assert set(tenants) == {
        "name",
        "state",
        "position",
        "head",
        "lag_events",
        "lag_seconds",
        "last_error",
    }
