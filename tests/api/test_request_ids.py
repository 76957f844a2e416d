"""Request ids (SPEC §11): on every answer, in problem bodies, in the logs of the request."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, MakeKey, bearer
from tests.support.faults import FaultyRegistry, captured_logs, log_lines

GENERATED = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/nope", 404),
        ("GET", "/v1/tenants", 401),
        ("PUT", "/v1/tenants", 405),
        ("GET", "/v1/tenants/not-a-uuid", 422),
    ],
)
def test_every_answer_carries_the_callers_request_id(
    client: TestClient, admin: Headers, method: str, path: str, status: int
) -> None:
    headers = {"X-Request-ID": "caller-id_1.2"}
    if status != 401:
        headers.update(admin)
    response = client.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-request-id"] == "caller-id_1.2"
    if status >= 400:
        assert response.json()["instance"] == "urn:request:caller-id_1.2"


@pytest.mark.parametrize("presented", ["", "a" * 65, "with space", "semi;colon", "é"])
def test_a_request_id_of_another_form_is_replaced(client: TestClient, presented: str) -> None:
    headers = {b"X-Request-ID": presented.encode()}
    response = client.get("/v1/tenants", headers=headers)
    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    assert request_id != presented
    assert response.json()["instance"] == f"urn:request:{request_id}"


def test_without_a_request_id_each_answer_gets_a_new_one(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(GENERATED.fullmatch(i) for i in ids)


@pytest.fixture
def faulty_app(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    registry = FaultyRegistry(settings, clock)
    try:
        yield create_app(settings, clock, registry=registry)
    finally:
        registry.close()


def test_unexpected_error_answers_500_and_logs_its_traceback_under_the_request_id(
    faulty_app: FastAPI, make_key: MakeKey
) -> None:
    key = bearer(make_key("admin", name="fault-finder"))
    body = {"slug": "acme", "name": "Acme Ltd"}
    with captured_logs() as output, TestClient(faulty_app) as client:
        response = client.post(
            "/v1/tenants", json=body, headers={**key, "X-Request-ID": "find-me-42"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["instance"] == "urn:request:find-me-42"
    assert "Traceback" not in response.text
    lines = [line for line in log_lines(output) if line.get("request_id") == "find-me-42"]
    failure = next(line for line in lines if line["level"] == "error")
    assert failure["error"] == "RuntimeError"
    assert failure["error_message"]
    assert "Traceback (most recent call last)" in failure["traceback"]
    assert "in register" in failure["traceback"]
    assert "ValidationError" in failure["traceback"]  # the cause is there too
    assert {"ts", "level", "logger", "msg"} <= failure.keys()
    access = next(line for line in lines if line["logger"] == "tenant_registry.access")
    assert access["method"] == "POST"
    assert access["route"] == "/v1/tenants"
    assert access["status"] == 500
    assert access["key"] == "fault-finder"
    assert isinstance(access["duration_ms"], float)


def test_access_line_names_the_route_template_not_the_path_or_query(
    client: TestClient, admin: Headers
) -> None:
    tenant = "00000000-0000-0000-0000-000000000001"
    with captured_logs() as output:
        client.get(f"/v1/tenants/{tenant}", headers=admin)
        client.get("/v1/tenants", params={"q": "secret-search"}, headers=admin)
    # The client's own lines (``httpx``) name the URL; the server's must not.
    server = [line for line in log_lines(output) if not line["logger"].startswith("httpx")]
    access = [line for line in server if line["logger"] == "tenant_registry.access"]
    assert [line["route"] for line in access] == ["/v1/tenants/{tenant_id}", "/v1/tenants"]
    assert tenant not in str(server)
    assert "secret-search" not in str(server)
    assert all(line["key"] == "ops" for line in access)
