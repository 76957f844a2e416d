"""The HTTP contract around the routes: problem documents, media types, sizes, health."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.models import EventType, StatusName
from common.clock import SystemClock
from common.settings import Settings
from domain.tenant import TENANT_TOPICS, Status
from tests.api.conftest import Headers, project, register

PROBLEM = "application/problem+json"
LIMIT = 64 * 1024


def _assert_problem(response: Any, status: int, token: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"https://tenant-registry.dev/problems/{token}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/tenants/x/y/z", "/v2/tenants"])
def test_unknown_route_is_a_problem_404_with_or_without_a_key(
    client: TestClient, admin: Headers, path: str, with_key: bool
) -> None:
    response = client.get(path, headers=admin if with_key else {})
    _assert_problem(response, 404, "not-found")


def test_wrong_method_is_a_problem_405(client: TestClient, admin: Headers) -> None:
    response = client.put("/v1/tenants", json={}, headers=admin)
    _assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


def test_malformed_json_is_a_validation_error(client: TestClient, admin: Headers) -> None:
    response = client.post(
        "/v1/tenants",
        content=b'{"slug": "acme", "name": ',
        headers={**admin, "Content-Type": "application/json"},
    )
    _assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_body_that_is_not_json_is_415(
    client: TestClient, admin: Headers, content_type: str | None
) -> None:
    headers = dict(admin)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/tenants", content=b"slug=acme&name=Acme", headers=headers)
    _assert_problem(response, 415, "unsupported-media-type")


def test_json_with_a_charset_is_accepted(client: TestClient, admin: Headers) -> None:
    response = client.post(
        "/v1/tenants",
        content=b'{"slug": "acme", "name": "Acme"}',
        headers={**admin, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_body_over_64_kib_is_413(client: TestClient, admin: Headers) -> None:
    big = b'{"slug": "acme", "name": "' + b"x" * LIMIT + b'"}'
    response = client.post(
        "/v1/tenants", content=big, headers={**admin, "Content-Type": "application/json"}
    )
    _assert_problem(response, 413, "payload-too-large")


def test_streamed_body_over_64_kib_is_413_without_content_length(
    client: TestClient, admin: Headers
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"slug": "acme", "name": "'
        for _ in range(9):
            yield b"x" * 8192
        yield b'"}'

    response = client.post(
        "/v1/tenants", content=chunks(), headers={**admin, "Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    _assert_problem(response, 413, "payload-too-large")


def test_body_just_under_the_limit_reaches_validation(client: TestClient, admin: Headers) -> None:
    body = b'{"slug": "acme", "name": "' + b"x" * (LIMIT - 100) + b'"}'
    response = client.post(
        "/v1/tenants", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    _assert_problem(response, 422, "validation-error")  # the name is too long, not the body


def test_validation_errors_do_not_echo_personal_data(client: TestClient, admin: Headers) -> None:
    secret_name = "Ms Private Person\x07"
    secret_mail = "private.person@@example"
    response = client.post(
        "/v1/tenants",
        json={"slug": "acme", "name": secret_name, "contact_email": secret_mail, "x": "Zed"},
        headers=admin,
    )
    _assert_problem(response, 422, "validation-error")
    for value in ("Private", "private.person", "Zed"):
        assert value not in response.text


def test_idempotency_key_over_255_characters_is_a_validation_error(
    client: TestClient, admin: Headers
) -> None:
    response = client.post(
        "/v1/tenants",
        json={"slug": "acme", "name": "Acme"},
        headers={**admin, "Idempotency-Key": "k" * 256},
    )
    _assert_problem(response, 422, "validation-error")


def test_healthz_needs_nothing(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_projection_and_redis(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    register(client, admin, "acme")
    project(settings)
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in {"ready", "degraded"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["projections"]["ok"] is True
    assert set(body["checks"]) == {"database", "projections", "redis"}


def test_readyz_is_503_when_the_read_side_lags_too_far(admin: Headers, settings: Settings) -> None:
    strict = settings.model_copy(update={"ready_max_lag_s": 0.0})
    with TestClient(create_app(strict, SystemClock())) as client:
        register(client, admin, "acme")  # not projected: the read side is behind
        response = client.get("/readyz")
    _assert_problem(response, 503, "projection-lagging")
    assert response.json()["checks"]["projections"]["ok"] is False


def test_metrics_expose_latency_commands_and_lag(client: TestClient, admin: Headers) -> None:
    register(client, admin, "acme")
    client.get("/v1/tenants/00000000-0000-0000-0000-000000000000", headers=admin)
    text = client.get("/metrics").text
    assert 'route="/v1/tenants/{tenant_id}"' in text
    assert "tenant_registry_http_request_duration_seconds_bucket" in text
    assert 'tenant_registry_commands_total{command="register",outcome="changed"}' in text
    assert 'tenant_registry_projection_lag_events{projection="tenants"}' in text


def test_docs_and_openapi_are_open(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    register_op = spec["paths"]["/v1/tenants"]["post"]
    assert PROBLEM in register_op["responses"]["409"]["content"]
    assert register_op["requestBody"]["content"]["application/json"]["schema"]


def test_documented_enumerations_match_the_domain() -> None:
    # Spelled out in api/models.py for OpenAPI; the domain owns the lists.
    assert set(get_args(StatusName)) == {status.value for status in Status}
    assert set(get_args(EventType)) == set(TENANT_TOPICS)
