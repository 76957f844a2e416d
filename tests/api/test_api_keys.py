"""``/v1/api-keys``: admins list, create and revoke keys over HTTP; any key reads itself."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.api.conftest import Headers, MakeKey, bearer


def test_admin_creates_a_key_whose_secret_is_shown_once_and_works(
    client: TestClient, admin: Headers
) -> None:
    created = client.post(
        "/v1/api-keys", json={"name": "support", "scopes": ["tenants:read"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "support" and body["scopes"] == ["tenants:read"]
    assert body["revoked_at"] is None
    assert client.get("/v1/tenants", headers=bearer(body["secret"])).status_code == 200

    listed = client.get("/v1/api-keys", headers=admin).json()["data"]
    assert {key["name"] for key in listed} == {"ops", "support"}
    assert all("secret" not in key for key in listed)
    assert body["secret"] not in client.get("/v1/api-keys", headers=admin).text


def test_a_second_active_key_with_the_same_name_is_refused(
    client: TestClient, admin: Headers
) -> None:
    body = {"name": "ops", "scopes": ["admin"]}
    refused = client.post("/v1/api-keys", json=body, headers=admin)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/key-name-taken")


def test_unknown_scopes_and_bad_names_are_validation_errors(
    client: TestClient, admin: Headers
) -> None:
    for body in (
        {"name": "x1", "scopes": ["tenants:everything"]},
        {"name": "-bad", "scopes": ["admin"]},
        {"name": "x2", "scopes": []},
    ):
        response = client.post("/v1/api-keys", json=body, headers=admin)
        assert response.status_code == 422, body


def test_revoked_key_is_refused_within_a_second_and_unknown_names_are_404(
    client: TestClient, admin: Headers, make_key: MakeKey
) -> None:
    victim = bearer(make_key("tenants:read", name="leaked"))
    assert client.get("/v1/tenants", headers=victim).status_code == 200
    revoked = client.delete("/v1/api-keys/leaked", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    deadline = time.monotonic() + 15  # the contract is one second; the margin is for CI
    while client.get("/v1/tenants", headers=victim).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.1)
    again = client.delete("/v1/api-keys/leaked", headers=admin)
    assert again.status_code == 404
    assert again.json()["type"].endswith("/not-found")


def test_key_management_needs_the_admin_scope(client: TestClient, make_key: MakeKey) -> None:
    writer = bearer(make_key("tenants:read", "tenants:write", "tenants:delete"))
    assert client.get("/v1/api-keys", headers=writer).status_code == 403
    body = {"name": "sneaky", "scopes": ["admin"]}
    assert client.post("/v1/api-keys", json=body, headers=writer).status_code == 403
    assert client.delete("/v1/api-keys/ops", headers=writer).status_code == 403
    assert client.get("/v1/api-keys").status_code == 401


def test_any_key_reads_its_own_name_and_scopes(client: TestClient, make_key: MakeKey) -> None:
    reader = bearer(make_key("tenants:read", name="viewer"))
    me = client.get("/v1/api-keys/current", headers=reader)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "viewer"
    assert me.json()["scopes"] == ["tenants:read"]
    assert "secret" not in me.json()


def test_console_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/console/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/console/console.js").status_code == 200
    assert client.get("/console", follow_redirects=False).status_code in (307, 308)
    missing = client.get("/console/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
