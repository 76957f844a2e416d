"""``/readyz`` (SPEC §11): ready while the database answers; lag is reported, and fails
readiness only when ``TENANT_REGISTRY_READY_MAX_LAG_S`` is set."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from common.clock import SystemClock
from common.settings import Settings
from tests.api.conftest import Headers, register

DEADLINE_SECONDS = 60


def _ready_until(client: TestClient, done: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = client.get("/readyz")
        if done(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_with_the_projector_stopped_readyz_stays_200_and_reports_the_lag(
    admin: Headers, settings: Settings
) -> None:
    assert settings.ready_max_lag_s is None  # the default
    with TestClient(create_app(settings, SystemClock())) as client:
        register(client, admin, "lagging")  # no projector runs: the read side falls behind
        response = _ready_until(
            client, lambda r: r.json()["checks"]["projections"]["lag"][0]["lag_seconds"] > 1
        )
    assert response.status_code == 200, response.text
    projections = response.json()["checks"]["projections"]
    assert projections["ok"] is True
    assert projections["max_lag_seconds"] is None
    (tenants,) = projections["lag"]
    assert tenants["name"] == "tenants"
    assert tenants["state"] == "stopped"
    assert tenants["lag_events"] >= 1
    assert tenants["lag_seconds"] > 1


def test_with_max_lag_set_readyz_answers_503_once_the_lag_exceeds_it(
    admin: Headers, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("TENANT_REGISTRY_READY_MAX_LAG_S", "1")
    strict = Settings()
    assert strict.ready_max_lag_s == 1.0  # read from the environment variable's name
    with TestClient(create_app(strict, SystemClock())) as client:
        register(client, admin, "lagging")
        response = _ready_until(client, lambda r: r.status_code == 503)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["type"].endswith("/projection-lagging")
    assert problem["checks"]["projections"]["lag"][0]["lag_seconds"] > 1
