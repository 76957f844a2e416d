"""The plain-CRUD peer of ``http-peer`` does what the registry does, so the comparison is fair."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from bench.peer.app import app_factory
from bench.peer.table import PEER_SCHEMA, load_peer_table
from common.settings import Settings

KEY = "peer-test-key"


@pytest.fixture
def peer(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    load_peer_table(settings)
    monkeypatch.setenv("PEER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PEER_SCHEMA", PEER_SCHEMA)
    monkeypatch.setenv("PEER_API_KEY", KEY)
    with TestClient(app_factory(), headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {PEER_SCHEMA} CASCADE")


def test_peer_walks_the_lifecycle_loop_of_the_benchmark_and_refuses_what_the_registry_refuses(
    peer: TestClient,
) -> None:
    created = peer.post("/v1/tenants", json={"slug": "peer-one", "name": "Peer One"})
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["status"] == "trial"
    path = f"/v1/tenants/{tenant['id']}"
    loop = ["activate", "start-grace", "activate", "pause", "activate", "cancel", "reactivate"]
    statuses = ["active", "grace", "active", "paused", "active", "cancelled", "active"]
    for command, status in zip(loop, statuses, strict=True):
        answer = peer.post(f"{path}/{command}", json={})
        assert answer.status_code == 200, command
        assert answer.json()["status"] == status
    # A no-op (already active) succeeds, as in the registry.
    assert peer.post(f"{path}/reactivate", json={}).status_code == 200
    assert peer.post(f"{path}/pause", json={}).status_code == 200
    assert peer.post(f"{path}/start-grace", json={}).status_code == 409
    got = peer.get(path)
    assert got.status_code == 200
    assert got.json()["status"] == "paused"
    assert got.headers["ETag"] == f'"{got.json()["version"]}"'
    assert peer.post("/v1/tenants", json={"slug": "peer-one", "name": "Again"}).status_code == 409
    assert peer.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert peer.get("/v1/tenants/00000000-0000-0000-0000-000000000000").status_code == 404
