"""Commands over HTTP: register, lifecycle, profile, delete; ETag, If-Match, positions."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, command, project, purge, register

PROBLEM = "application/problem+json"


def test_register_answers_201_with_location_etag_and_position(
    client: TestClient, admin: Headers
) -> None:
    response = client.post(
        "/v1/tenants",
        json={
            "slug": "acme",
            "name": "  Acme Ltd ",
            "contact_email": "Ops@ACME.example",
            "metadata": {"crm": "A-1"},
        },
        headers=admin,
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/tenants/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert int(response.headers["x-event-position"]) >= 1
    assert body["name"] == "Acme Ltd"
    assert body["contact_email"] == "Ops@acme.example"
    assert body["status"] == "trial"
    assert body["timezone"] == "Asia/Jerusalem"
    assert body["plan"] == "standard"
    assert body["metadata"] == {"crm": "A-1"}
    # 14 days after 2027-01-10, at midnight in Jerusalem (UTC+2).
    assert body["trial_ends_at"] == "2027-01-23T22:00:00+00:00"
    assert body["version"] == 1
    assert set(body) >= {"created_at", "updated_at", "deleted_at", "purge_after", "paused_at"}


def test_register_records_the_key_name_as_actor(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    history = client.get(f"/v1/tenants/{tenant['id']}/events", headers=admin).json()["data"]
    assert [e["actor"] for e in history] == ["key:ops"]


def test_second_tenant_with_a_taken_slug_gets_409(client: TestClient, admin: Headers) -> None:
    register(client, admin, "acme")
    response = client.post("/v1/tenants", json={"slug": "acme", "name": "Other"}, headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/slug-taken")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "A", "name": "x"}, "slug"),
        ({"slug": "abc", "name": "   "}, "name"),
        ({"slug": "abc", "name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"slug": "abc", "name": "x", "plan": "Gold Plan"}, "plan"),
        ({"slug": "abc", "name": "x", "contact_email": "not-an-address"}, "contact_email"),
        ({"slug": "abc", "name": "x", "metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"slug": "abc", "name": "x", "trial_days": 91}, "trial_days"),
        ({"slug": "abc", "name": "x", "status": "active"}, "status"),
        ({"name": "x"}, "slug"),
    ],
)
def test_invalid_registration_names_the_field_without_echoing_it(
    client: TestClient, admin: Headers, body: dict[str, object], field: str
) -> None:
    response = client.post("/v1/tenants", json=body, headers=admin)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert field in [e["field"] for e in problem["errors"]]
    assert "not-an-address" not in response.text
    assert "Mars/Olympus" not in response.text


LIFECYCLE = [
    # (commands that bring the tenant to the start, command, status after)
    ((), "activate", "active"),
    (("activate",), "start-grace", "grace"),
    ((), "pause", "paused"),
    ((), "cancel", "cancelled"),
    (("cancel",), "reactivate", "active"),
    (("cancel", "delete"), "restore", "cancelled"),
]


@pytest.mark.parametrize(("before", "name", "status"), LIFECYCLE)
def test_lifecycle_command_answers_the_tenant_after_it(
    client: TestClient, admin: Headers, before: tuple[str, ...], name: str, status: str
) -> None:
    tenant = register(client, admin, "acme")
    for earlier in before:
        command(client, admin, tenant["id"], earlier)
    response = client.post(
        f"/v1/tenants/{tenant['id']}/{name}", json={"reason": "because"}, headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == status
    assert body["version"] == len(before) + 2
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert int(response.headers["x-event-position"]) >= body["version"]
    events = client.get(f"/v1/tenants/{tenant['id']}/events", headers=admin).json()["data"]
    assert events[-1]["reason"] == "because"


def test_command_whose_result_is_the_current_state_records_nothing(
    client: TestClient, admin: Headers
) -> None:
    tenant = register(client, admin, "acme")
    first = command(client, admin, tenant["id"], "activate")
    again = command(client, admin, tenant["id"], "activate")
    assert again.json()["version"] == first.json()["version"] == 2
    assert again.headers["etag"] == '"2"'
    assert int(again.headers["x-event-position"]) >= int(first.headers["x-event-position"])


def test_refused_command_lists_current_status_and_allowed(
    client: TestClient, admin: Headers
) -> None:
    tenant = register(client, admin, "acme")
    response = client.post(f"/v1/tenants/{tenant['id']}/reactivate", headers=admin)
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_status"] == "trial"
    assert problem["allowed"] == ["activate", "pause", "cancel"]
    assert {"title", "status", "detail"} <= set(problem)


def test_delete_soft_deletes_a_cancelled_tenant(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "cancel")
    body = command(client, admin, tenant["id"], "delete").json()
    assert body["status"] == "cancelled"
    assert body["deleted_at"] == "2027-01-10T09:00:00+00:00"
    assert body["purge_after"] == "2027-04-10T09:00:00+00:00"


def test_if_match_with_the_current_version_applies(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    response = client.post(
        f"/v1/tenants/{tenant['id']}/activate", headers={**admin, "If-Match": '"1"'}
    )
    assert response.status_code == 200


def test_if_match_with_another_version_answers_412(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "activate")
    response = client.post(
        f"/v1/tenants/{tenant['id']}/pause", headers={**admin, "If-Match": '"1"'}
    )
    assert response.status_code == 412
    assert response.json()["type"].endswith("/version-mismatch")


def test_malformed_if_match_is_a_validation_error(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme")
    response = client.post(
        f"/v1/tenants/{tenant['id']}/activate", headers={**admin, "If-Match": "yesterday"}
    )
    assert response.status_code == 422


def test_profile_update_changes_only_the_given_fields(client: TestClient, admin: Headers) -> None:
    tenant = register(client, admin, "acme", contact_email="a@acme.example")
    response = client.patch(
        f"/v1/tenants/{tenant['id']}",
        json={"name": "Acme Group", "contact_email": None},
        headers={**admin, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["contact_email"], body["plan"]) == ("Acme Group", None, "standard")
    events = client.get(f"/v1/tenants/{tenant['id']}/events", headers=admin).json()["data"]
    assert events[-1]["type"] == "TenantProfileUpdated"
    assert events[-1]["data"] == {"changes": {"name": "Acme Group", "contact_email": None}}


@pytest.mark.parametrize("field", ["slug", "status", "version", "id"])
def test_profile_update_refuses_fields_outside_the_profile(
    client: TestClient, admin: Headers, field: str
) -> None:
    tenant = register(client, admin, "acme")
    response = client.patch(f"/v1/tenants/{tenant['id']}", json={field: "x"}, headers=admin)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_profile_update_of_a_deleted_tenant_is_an_invalid_transition(
    client: TestClient, admin: Headers
) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "cancel")
    command(client, admin, tenant["id"], "delete")
    response = client.patch(f"/v1/tenants/{tenant['id']}", json={"plan": "pro"}, headers=admin)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/invalid-transition")
    assert response.json()["allowed"] == ["restore"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("post", "/activate"), ("post", "/restore"), ("delete", ""), ("patch", "")],
)
def test_command_on_an_unknown_tenant_answers_404(
    client: TestClient, admin: Headers, method: str, suffix: str
) -> None:
    body = {"plan": "pro"} if method == "patch" else None
    response = client.request(
        method.upper(), f"/v1/tenants/{uuid4()}{suffix}", json=body, headers=admin
    )
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_command_on_a_purged_tenant_answers_410(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    tenant = register(client, admin, "acme")
    command(client, admin, tenant["id"], "activate")  # the app now caches the tenant
    purge(settings, clock, tenant["id"])
    response = client.post(f"/v1/tenants/{tenant['id']}/pause", headers=admin)
    assert response.status_code == 410
    assert response.json()["type"].endswith("/gone")
    project(settings)
    assert client.get(f"/v1/tenants/{tenant['id']}", headers=admin).status_code == 410


@pytest.mark.parametrize(
    ("field", "value"),
    [("plan", "pro\n"), ("contact_email", "ops@acme.example\n"), ("contact_email", "a\n@b.io")],
)
def test_a_trailing_newline_does_not_pass_for_a_valid_value(
    client: TestClient, admin: Headers, field: str, value: str
) -> None:
    tenant = register(client, admin, "acme")
    response = client.patch(f"/v1/tenants/{tenant['id']}", json={field: value}, headers=admin)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
