"""The rough edges found in review (issue 16, "Fix"): each of these answered wrongly before."""

from __future__ import annotations

import base64

import orjson
import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from tests.api.conftest import Headers, project, register

PROBLEM = "application/problem+json"


def _cursor(document: list[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode().rstrip("=")


@pytest.mark.parametrize(
    "slots",
    [
        ["c1", "2024-01-01T00:00:00+00:00", 123],
        ["c1", 20240101, "00000000000000000000000000000000"],
        ["c1", "2024-01-01T00:00:00+00:00", None],
    ],
)
def test_cursor_with_a_non_string_slot_is_a_validation_error(
    client: TestClient, admin: Headers, slots: list[object]
) -> None:
    response = client.get("/v1/tenants", params={"cursor": _cursor(slots)}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.cursor"


@pytest.mark.parametrize("if_match", ['W/"1"', '"0001"', '"01"', '"x"', 'W/"1", "2"'])
def test_if_match_compares_strongly(client: TestClient, admin: Headers, if_match: str) -> None:
    tenant = register(client, admin, "strong-etag")
    response = client.post(
        f"/v1/tenants/{tenant['id']}/activate", headers={**admin, "If-Match": if_match}
    )
    assert response.status_code == 412, response.text
    assert response.json()["type"].endswith("/version-mismatch")


@pytest.mark.parametrize("if_match", ['"7", "1"', '"1", W/"2"', '"3","1"', '"1"'])
def test_if_match_list_matches_when_any_tag_names_the_version(
    client: TestClient, admin: Headers, if_match: str
) -> None:
    tenant = register(client, admin, "etag-list")
    response = client.post(
        f"/v1/tenants/{tenant['id']}/activate", headers={**admin, "If-Match": if_match}
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b'{"slug": ', "application/json"), (b"slug=acme", "text/plain"), (b"{}", None)],
)
def test_without_a_key_a_malformed_body_is_401(
    client: TestClient, content: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/tenants", content=content, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


def test_trailing_slash_is_not_redirected_to_the_callers_host(
    client: TestClient, admin: Headers
) -> None:
    response = client.get(
        "/v1/tenants/", headers={**admin, "Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"] == PROBLEM
    console = client.get("/console", headers={"Host": "evil.example"}, follow_redirects=False)
    assert console.headers["location"] == "/console/"  # the one redirect: relative


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "right/UTC", "Factory "])
def test_timezone_outside_the_iana_database_is_refused(
    client: TestClient, admin: Headers, zone: str
) -> None:
    body = {"slug": "tz-test", "name": "Tz", "timezone": zone}
    response = client.post("/v1/tenants", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "timezone"


@pytest.mark.parametrize("days", ["5", True, 1.0, 5.5])
def test_trial_days_must_be_a_json_integer(
    client: TestClient, admin: Headers, days: object
) -> None:
    body = {"slug": "days-test", "name": "Days", "trial_days": days}
    response = client.post("/v1/tenants", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "trial_days"


def test_head_on_a_get_route_answers_like_get_without_a_body(
    client: TestClient, admin: Headers, settings: Settings
) -> None:
    tenant = register(client, admin, "head-test")
    project(settings)
    get = client.get(f"/v1/tenants/{tenant['id']}", headers=admin)
    head = client.head(f"/v1/tenants/{tenant['id']}", headers=admin)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head("/healthz").status_code == 200
    assert client.head("/v1/tenants").status_code == 401


def test_wrong_method_lists_every_method_of_the_path(client: TestClient, admin: Headers) -> None:
    response = client.put("/v1/tenants", json={}, headers=admin)
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET, HEAD, POST"
    tenant_path = "/v1/tenants/00000000-0000-0000-0000-000000000000"
    allowed = client.put(tenant_path, headers=admin).headers["allow"]
    assert allowed == "DELETE, GET, HEAD, PATCH"
