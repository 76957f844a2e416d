"""Idempotency-Key: the first response is replayed; reuse and races are refused."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from application.idempotency import Claim, IdempotencyStore, IdempotentRequest
from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, command, purge, register

ACME = {"slug": "acme", "name": "Acme"}


def _records(settings: Settings) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT key, state, status_code, tenant_id FROM tenant_registry.idempotency_records"
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _post(client: TestClient, headers: Headers, key: str, body: Any = ACME) -> Any:
    return client.post("/v1/tenants", json=body, headers={**headers, "Idempotency-Key": key})


def test_replay_returns_the_first_status_and_body(client: TestClient, admin: Headers) -> None:
    first = _post(client, admin, "k-1")
    again = _post(client, admin, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert int(again.headers["x-event-position"]) >= int(first.headers["x-event-position"])
    listed = client.get("/v1/events", headers=admin).json()["data"]
    assert [e["type"] for e in listed] == ["TenantRegistered"]


def test_replay_of_a_lifecycle_command_does_not_repeat_it(
    client: TestClient, admin: Headers
) -> None:
    tenant = register(client, admin, "acme")
    path = f"/v1/tenants/{tenant['id']}/activate"
    headers = {**admin, "Idempotency-Key": "pay-1"}
    first = client.post(path, headers=headers)
    command(client, admin, tenant["id"], "pause")
    again = client.post(path, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.json()["status"] == "active"  # the first answer, not a second activation
    history = client.get(f"/v1/tenants/{tenant['id']}/events", headers=admin).json()["data"]
    assert [e["type"] for e in history][-2:] == ["TenantActivated", "TenantPaused"]


def test_refusals_are_replayed_too(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    path = f"/v1/tenants/{tenant['id']}/reactivate"
    headers = {**admin, "Idempotency-Key": "re-1"}
    first = client.post(path, headers=headers)
    command(client, admin, tenant["id"], "cancel")  # now reactivate would be allowed
    again = client.post(path, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.content == first.content
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotent-replayed"] == "true"


def test_same_key_with_another_body_path_or_method_is_422(
    client: TestClient, admin: Headers
) -> None:
    first = _post(client, admin, "k-1")
    tenant_id = first.json()["id"]
    key = {**admin, "Idempotency-Key": "k-1"}
    for response in (
        _post(client, admin, "k-1", {"slug": "acme", "name": "Acme Two"}),
        client.post(f"/v1/tenants/{tenant_id}/activate", headers=key),
        client.patch(f"/v1/tenants/{tenant_id}", json={"plan": "pro"}, headers=key),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("/idempotency-key-reused")


def test_requests_refused_before_the_command_store_nothing(
    client: TestClient, admin: Headers, settings: Settings, make_key: Any
) -> None:
    invalid = _post(client, admin, "k-1", {"slug": "acme", "name": "  "})
    assert invalid.status_code == 422
    reader = {"Authorization": f"Bearer {make_key('tenants:read')}"}
    assert _post(client, reader, "k-2").status_code == 403
    assert _records(settings) == []
    assert _post(client, admin, "k-1").status_code == 201  # the key is still free


def test_same_key_from_another_api_key_is_independent(
    client: TestClient, admin: Headers, make_key: Any
) -> None:
    other = {"Authorization": f"Bearer {make_key('admin')}"}
    assert _post(client, admin, "shared").status_code == 201
    response = _post(client, other, "shared", {"slug": "bravo", "name": "Bravo"})
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers


def test_records_expire_after_24_hours(
    client: TestClient, admin: Headers, clock: FrozenClock
) -> None:
    assert _post(client, admin, "k-1").status_code == 201
    clock.advance(timedelta(hours=24, seconds=1))
    response = _post(client, admin, "k-1", {"slug": "bravo", "name": "Bravo"})
    assert response.status_code == 201
    assert response.json()["slug"] == "bravo"


def test_record_names_its_tenant_so_a_purge_removes_it(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    tenant = _post(client, admin, "k-1").json()
    client.post(f"/v1/tenants/{tenant['id']}/pause", headers={**admin, "Idempotency-Key": "k-2"})
    records = _records(settings)
    assert {r["key"] for r in records} == {"k-1", "k-2"}
    assert {str(r["tenant_id"]) for r in records} == {tenant["id"]}
    assert {(r["state"], r["status_code"]) for r in records} == {("done", 201), ("done", 200)}
    purge(settings, clock, tenant["id"])
    assert _records(settings) == []


def test_concurrent_requests_with_one_key_make_one_tenant(
    _session_app: FastAPI, admin: Headers, settings: Settings
) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        client = TestClient(_session_app)  # a client per thread; no lifespan (shared app)
        barrier.wait()
        results.append(_post(client, admin, "race", ACME))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    for refused in (r for r in results if r.status_code == 409):
        assert refused.json()["type"].endswith("/idempotency-key-in-progress")
    events = TestClient(_session_app).get("/v1/events", headers=admin).json()["data"]
    assert [e["type"] for e in events] == ["TenantRegistered"]


def test_key_still_running_answers_409_in_progress(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    body = b'{"slug": "acme", "name": "Acme"}'
    key_id = admin["Authorization"].removeprefix("Bearer ").partition(".")[0]
    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        store = IdempotencyStore(settings, clock, lambda: nullcontext(conn))
        claim = store.claim(IdempotentRequest(key_id, "slow", "POST", "/v1/tenants", body))
        assert isinstance(claim, Claim)
        headers = {**admin, "Idempotency-Key": "slow", "Content-Type": "application/json"}
        response = client.post("/v1/tenants", content=body, headers=headers)
        assert response.status_code == 409
        assert response.json()["type"].endswith("/idempotency-key-in-progress")
        assert response.headers["retry-after"] == "1"
        store.release(claim)
    assert client.post("/v1/tenants", content=body, headers=headers).status_code == 201


def test_expired_records_are_deleted_and_fresh_ones_kept(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    assert _post(client, admin, "old").status_code == 201
    clock.advance(timedelta(hours=23))
    assert _post(client, admin, "young", {"slug": "bravo", "name": "Bravo"}).status_code == 201
    clock.advance(timedelta(hours=2))  # "old" is 25 h old now, "young" 2 h
    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        store = IdempotencyStore(settings, clock, lambda: nullcontext(conn))
        assert store.expire() == 1
    assert [r["key"] for r in _records(settings)] == ["young"]
