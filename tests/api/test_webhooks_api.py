"""``/v1/webhooks``: endpoint management, secrets, the delivery log and replays."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.db import connect
from common.settings import Settings
from tests.api.conftest import Headers, MakeKey, bearer, register
from webhooks.store import WebhookStore

PUBLIC = "https://93.184.216.34/hooks/tenants"  # a public address: no lookup needed


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": PUBLIC, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def test_created_endpoint_shows_its_secret_once(client: TestClient, admin: Headers) -> None:
    created = create(client, admin, event_types=["TenantCancelled"], description="billing")
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    assert created["event_types"] == ["TenantCancelled"]
    listed = client.get("/v1/webhooks", headers=admin).json()["data"]
    assert [w["id"] for w in listed] == [created["id"]]
    one = client.get(f"/v1/webhooks/{created['id']}", headers=admin).json()
    assert "secret" not in one and "secret" not in listed[0]
    assert one["description"] == "billing"


def test_endpoint_updates_and_deletes(client: TestClient, admin: Headers) -> None:
    created = create(client, admin)
    url = f"/v1/webhooks/{created['id']}"
    patched = client.patch(url, json={"enabled": False, "event_types": []}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC, "event_types": ["TenantExploded"]},
        {"url": "ftp://93.184.216.34/x"},
        {"url": "http://127.0.0.1:8080/hook"},
        {"url": "http://10.1.2.3/hook"},
        {"url": "http://169.254.169.254/latest/meta-data"},
        {"url": "http://[::1]/hook"},
        {"url": "http://localhost:9000/hook"},  # a name that resolves to loopback
        {"url": PUBLIC, "secret": "mine"},
    ],
)
def test_unacceptable_endpoints_are_refused(
    client: TestClient, admin: Headers, body: dict[str, Any]
) -> None:
    response = client.post("/v1/webhooks", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/validation-error")
    assert client.get("/v1/webhooks", headers=admin).json()["data"] == []


def test_webhooks_need_the_admin_scope(client: TestClient, make_key: MakeKey) -> None:
    writer = bearer(make_key("tenants:write", "tenants:read", "tenants:delete"))
    assert client.get("/v1/webhooks", headers=writer).status_code == 403
    assert client.post("/v1/webhooks", json={"url": PUBLIC}, headers=writer).status_code == 403
    assert client.get("/v1/webhooks").status_code == 401


def test_rotation_gives_a_new_secret_and_keeps_the_old_one_for_a_day(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    created = create(client, admin)
    response = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=admin)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    with_store = WebhookStore(settings)
    with connect(settings) as conn:
        endpoint = with_store.get_endpoint(conn, created["id"])
    assert endpoint is not None
    assert endpoint.previous_secret == created["secret"]


def test_replay_creates_deliveries_shown_in_the_log_without_payloads(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    created = create(client, admin, event_types=["TenantRegistered"])
    for n in range(3):
        register(client, admin, f"hooked-{n}", contact_email=f"secret{n}@example.org")
    # The dispatcher is not running here: the replay covers what it has already passed.
    store = WebhookStore(settings)
    with connect(settings) as conn, conn.transaction():
        store.lock_cursor(conn, 0)
        store.move_cursor(conn, 10**9)
    url = f"/v1/webhooks/{created['id']}"
    replay = client.post(f"{url}/replay", json={"after": 0}, headers=admin)
    assert replay.status_code == 202, replay.text
    assert replay.json() == {"replayed": 3}
    page = client.get(f"{url}/deliveries?limit=2&status=pending", headers=admin)
    assert page.status_code == 200, page.text
    first = page.json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = client.get(f"{url}/deliveries?cursor={first['next_cursor']}", headers=admin).json()
    items = first["data"] + rest["data"]
    assert len(items) == 3 and rest["next_cursor"] is None
    assert {i["status"] for i in items} == {"pending"}
    assert all(i["webhook_id"].startswith("msg_") for i in items)
    assert "example.org" not in page.text + str(rest)
    assert client.get(f"{url}/deliveries?cursor=%%%", headers=admin).status_code == 422
