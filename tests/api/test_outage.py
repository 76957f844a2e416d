"""PostgreSQL goes away and comes back: the API answers 503 meanwhile and recovers alone.

These tests stop a private PostgreSQL server of their own (never the shared one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.gate import PROBE_INTERVAL_SECONDS
from application.keys import KeyAdmin
from cli.cmd_core import migrate_all
from common.clock import SystemClock
from common.db import connect
from common.settings import Settings
from projections.runner import catch_up
from tests.api.conftest import bearer
from tests.support.private_pg import PrivatePostgres, free_port

pytestmark = pytest.mark.resilience

RECOVERY_SECONDS = 20.0

#: The console script (``python -m cli.main`` would load ``cli.main`` twice).
CLI = str(Path(sys.executable).with_name("tenant-registry"))


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


@pytest.fixture
def private(server: PrivatePostgres) -> tuple[Settings, str]:
    """Migrated settings on the private server and an admin key (the server is up)."""
    settings = Settings.model_validate({"DATABASE_URL": server.url})
    migrate_all(settings)
    with connect(settings) as conn:
        _, key = KeyAdmin(conn, settings).create(
            f"ops-{time.monotonic_ns()}", ("admin",), SystemClock().now()
        )
    return settings, key


def _eventually(check: Callable[[], bool], timeout: float = RECOVERY_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "did not recover in time"
        time.sleep(0.2)


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unavailable")
    assert "Traceback" not in response.text and "SELECT" not in response.text


def test_commands_and_reads_answer_503_while_the_database_is_down_then_recover(
    server: PrivatePostgres, private: tuple[Settings, str]
) -> None:
    settings, key = private
    admin = bearer(key)
    with TestClient(create_app(settings, SystemClock())) as client:
        tenant = client.post("/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin)
        assert tenant.status_code == 201
        tenant_id = tenant.json()["id"]
        catch_up(settings)
        assert client.get(f"/v1/tenants/{tenant_id}", headers=admin).status_code == 200

        server.stop()
        # The first request meets the dead connections; it tells the gate, whose probe then
        # answers for everyone: the requests after it fail fast instead of waiting on pools.
        started = time.monotonic()
        _assert_unavailable(client.post(f"/v1/tenants/{tenant_id}/activate", headers=admin))
        assert time.monotonic() - started < 15
        started = time.monotonic()
        for response in (
            client.post(f"/v1/tenants/{tenant_id}/pause", headers=admin),
            client.post("/v1/tenants", json={"slug": "bravo", "name": "Bravo"}, headers=admin),
            client.get(f"/v1/tenants/{tenant_id}", headers=admin),
            client.get("/v1/tenants", headers=admin),
            client.get(f"/v1/tenants/{tenant_id}/events", headers=admin),
            client.get("/readyz"),
        ):
            _assert_unavailable(response)
        assert time.monotonic() - started < 3 * PROBE_INTERVAL_SECONDS
        assert client.get("/healthz").status_code == 200

        server.start()
        _eventually(
            lambda: (
                client.post(f"/v1/tenants/{tenant_id}/activate", headers=admin).status_code == 200
            )
        )
        catch_up(settings)
        assert client.get(f"/v1/tenants/{tenant_id}", headers=admin).json()["status"] == "active"
        assert client.get("/readyz").status_code == 200
        bravo = client.post("/v1/tenants", json={"slug": "bravo", "name": "Bravo"}, headers=admin)
        assert bravo.status_code == 201


def test_serve_starts_while_the_database_is_down_and_recovers(
    server: PrivatePostgres, private: tuple[Settings, str]
) -> None:
    settings, key = private
    catch_up(settings)
    server.stop()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    command = [CLI, "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            _eventually(lambda: _answers(http, "/healthz"), timeout=15)
            _assert_unavailable(http.get("/readyz"))
            _assert_unavailable(
                http.post("/v1/tenants", json={"slug": "acme", "name": "A"}, headers=bearer(key))
            )
            server.start()
            _eventually(lambda: http.get("/readyz").status_code == 200)
            created = http.post(
                "/v1/tenants", json={"slug": "zulu", "name": "Zulu"}, headers=bearer(key)
            )
            assert created.status_code == 201, created.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=15)
    assert b"Traceback" not in errors


def _answers(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code == 200
    except httpx.TransportError:
        return False
