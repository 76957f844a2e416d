"""The OpenAPI document (SPEC §11): camelCase operation ids, the headers each answer sends,
exactly the problems each operation can answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

CAMEL = re.compile(r"^[a-z]+(?:[A-Z][a-z]+)*$")


@pytest.fixture(scope="module")
def spec(_session_app: Any) -> dict[str, Any]:
    document: dict[str, Any] = TestClient(_session_app).get("/openapi.json").json()
    return document


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path in spec["paths"].values()
        for operation in path.values()
    }


def test_operation_ids_are_camel_case_and_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all(CAMEL.fullmatch(i) for i in ids), ids
    expected = {"registerTenant", "listTenants", "getTenant", "updateTenant", "deleteTenant"}
    expected |= {f"{c}Tenant" for c in ("activate", "startGrace", "pause", "cancel")}
    expected |= {"reactivateTenant", "restoreTenant", "tenantHistory"}
    assert expected <= set(ids)


def test_command_answers_declare_the_headers_they_send(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    created = operations["registerTenant"]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "X-Event-Position", "X-Request-ID", "Idempotent-Replayed"} <= set(
        created
    )
    for name in ("activateTenant", "updateTenant", "deleteTenant", "restoreTenant"):
        headers = operations[name]["responses"]["200"]["headers"]
        assert {"ETag", "X-Event-Position", "X-Request-ID", "Idempotent-Replayed"} <= set(headers)
        assert "Location" not in headers
    assert "ETag" in operations["getTenant"]["responses"]["200"]["headers"]
    for operation in operations.values():
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in response["headers"]
            if status == "503":
                assert "Retry-After" in response["headers"]


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        ("registerTenant", {"201", "401", "403", "409", "413", "415", "422", "503"}),
        ("listTenants", {"200", "401", "403", "422", "503"}),
        ("getTenant", {"200", "401", "403", "404", "410", "422", "503"}),
        ("tenantHistory", {"200", "401", "403", "404", "410", "422", "503"}),
        (
            "activateTenant",
            {"200", "401", "403", "404", "409", "410", "412", "413", "415", "422", "503"},
        ),
        ("healthz", {"200"}),
        ("readyz", {"200", "503"}),
    ],
)
def test_each_operation_lists_exactly_its_problems(
    spec: dict[str, Any], operation: str, statuses: set[str]
) -> None:
    responses = _operations(spec)[operation]["responses"]
    assert set(responses) == statuses
    for status, response in responses.items():
        if status[0] in "45":
            assert set(response["content"]) == {"application/problem+json"}
