"""API keys: every /v1 route needs one with the right scope; keys are stored hashed."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from application.keys import CACHE_SECONDS, KeyAdmin
from common.clock import FrozenClock
from common.db import connect
from common.settings import Settings
from tests.api.conftest import Headers, MakeKey, bearer, register

TENANT = "00000000-0000-4000-8000-000000000001"

#: (method, path, scope it needs, JSON body)
Route = tuple[str, str, str, Any]
ROUTES: list[Route] = [
    ("POST", "/v1/tenants", "tenants:write", {"slug": "acme", "name": "Acme"}),
    ("GET", "/v1/tenants", "tenants:read", None),
    ("GET", f"/v1/tenants/{TENANT}", "tenants:read", None),
    ("GET", f"/v1/tenants/{TENANT}/events", "tenants:read", None),
    ("PATCH", f"/v1/tenants/{TENANT}", "tenants:write", {"plan": "pro"}),
    ("DELETE", f"/v1/tenants/{TENANT}", "tenants:delete", None),
    ("POST", f"/v1/tenants/{TENANT}/activate", "tenants:write", None),
    ("POST", f"/v1/tenants/{TENANT}/start-grace", "tenants:write", None),
    ("POST", f"/v1/tenants/{TENANT}/pause", "tenants:write", None),
    ("POST", f"/v1/tenants/{TENANT}/cancel", "tenants:write", None),
    ("POST", f"/v1/tenants/{TENANT}/reactivate", "tenants:write", None),
    ("POST", f"/v1/tenants/{TENANT}/restore", "tenants:delete", None),
    ("GET", "/v1/events", "tenants:read", None),
    ("GET", "/v1/tenants/changes", "tenants:read", None),
    # A bad ``after`` past the scope check: a 422 here, not a stream that never ends.
    ("GET", "/v1/tenants/changes/stream?after=-1", "tenants:read", None),
    ("GET", "/v1/events/stream?after=-1", "tenants:read", None),
    ("GET", "/v1/stats", "tenants:read", None),
    ("GET", "/v1/projections", "tenants:read", None),
    ("GET", "/v1/api-keys", "admin", None),
    ("POST", "/v1/api-keys", "admin", {"name": "new-key", "scopes": ["tenants:read"]}),
    ("DELETE", "/v1/api-keys/nobody", "admin", None),
]
#: Routes any valid key may call (it reads itself).
ANY_KEY_ROUTES = [("GET", "/v1/api-keys/current")]
OTHER_SCOPE = {
    "tenants:read": "tenants:write",
    "tenants:write": "tenants:delete",
    "tenants:delete": "tenants:write",
    "admin": "tenants:delete",
}
_ids = [f"{method} {path.replace(TENANT, '{id}')}" for method, path, _, _ in ROUTES]


def _call(client: TestClient, method: str, path: str, body: Any, headers: Headers) -> Any:
    return client.request(method, path, json=body, headers=headers)


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unauthorized")


def test_openapi_lists_every_v1_route_here(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    declared = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    covered = {
        (method, path.replace(TENANT, "{tenant_id}").partition("?")[0])
        for method, path, _, _ in ROUTES
    }
    covered = {(m, p.replace("/nobody", "/{name}")) for m, p in covered} | set(ANY_KEY_ROUTES)
    assert declared == covered


@pytest.mark.parametrize("route", ANY_KEY_ROUTES, ids=[" ".join(r) for r in ANY_KEY_ROUTES])
def test_route_needs_any_valid_key(
    client: TestClient, route: tuple[str, str], make_key: MakeKey
) -> None:
    method, path = route
    _assert_unauthorized(client.request(method, path))
    _assert_unauthorized(client.request(method, path, headers=bearer("0123456789abcdef.nope")))
    response = client.request(method, path, headers=bearer(make_key("tenants:read")))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_route_needs_a_key_with_its_scope(
    client: TestClient, route: Route, make_key: MakeKey
) -> None:
    method, path, scope, body = route
    real = make_key("admin")
    key_id, _, secret = real.partition(".")
    refused = [
        {},
        {"Authorization": f"Basic {real}"},
        {"Authorization": "Bearer"},
        bearer(f"{key_id}.{secret[:-2]}xx"),
        bearer("0123456789abcdef.nope"),
        bearer("garbage"),
        bearer(real + "x"),
    ]
    for headers in refused:
        _assert_unauthorized(_call(client, method, path, body, headers))
    forbidden = _call(client, method, path, body, bearer(make_key(OTHER_SCOPE[scope])))
    assert forbidden.status_code == 403, forbidden.text
    assert forbidden.json()["type"].endswith("/forbidden")
    for key in (make_key(scope), real):
        response = _call(client, method, path, body, bearer(key))
        assert response.status_code not in (401, 403), response.text


def test_revoked_key_is_refused_on_the_next_request(
    client: TestClient, settings: Settings, clock: FrozenClock, make_key: MakeKey
) -> None:
    headers = bearer(make_key("tenants:read", name="leaving"))
    assert client.get("/v1/stats", headers=headers).status_code == 200
    with connect(settings) as conn:
        KeyAdmin(conn, settings).revoke("leaving", clock.now())
    time.sleep(CACHE_SECONDS)  # the API trusts a looked-up key for at most this long
    _assert_unauthorized(client.get("/v1/stats", headers=headers))


def test_keys_table_holds_no_secret(
    client: TestClient, settings: Settings, make_key: MakeKey, admin: Headers
) -> None:
    secrets = [make_key("admin"), make_key("tenants:read", "tenants:write")]
    register(client, admin, "acme")
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT t::text FROM tenant_registry.api_keys t"  # every column, as text
        ).fetchall()
    dump = "\n".join(r[0] for r in rows)
    assert len(rows) == 3
    for secret in secrets:
        key_id, _, plain = secret.partition(".")
        assert key_id in dump  # the lookup id is stored…
        assert plain not in dump  # …the secret is not
        assert plain.encode().hex() not in dump
