"""The fast routes (``api.fast``) answer exactly as the FastAPI routes they stand in for.

The same requests go to an app with the fast routes and to one without, each against a tenant
of its own registered the same way; the answers must be the same, byte for byte once the
tenant's id, slug and the stream positions are taken out. The requests cover what the fast
path takes itself (plain commands and reads) and what it must hand to FastAPI (bodies the
model refuses, bad headers, a query string, odd ids, missing scopes), so a difference in
either direction fails here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.fast import FastRoutes
from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import MakeKey, bearer, project, register

#: (method, path under the tenant or ``None`` for its own path, body, extra headers, key)
Step = tuple[str, str | None, Any, list[tuple[str, str]], str]

UNKNOWN = "00000000-0000-4000-8000-000000000000"
_REQUEST_ID = re.compile(r"urn:request:[A-Za-z0-9._-]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

STEPS: list[Step] = [
    ("POST", "activate", None, [], "writer"),
    ("POST", "activate", None, [], "writer"),  # a no-op
    ("POST", "pause", {"reason": "card expired"}, [], "writer"),
    ("POST", "activate", {"reason": 5}, [], "writer"),  # 422 from the model
    ("POST", "activate", {"unknown": 1}, [], "writer"),  # 422: extra fields are forbidden
    ("POST", "activate", [], [], "writer"),
    ("POST", "activate", None, [("If-Match", '"999"')], "writer"),  # 412
    ("POST", "activate", None, [("If-Match", 'W/"3"')], "writer"),  # weak: 412
    ("POST", "activate", None, [("If-Match", '"3"')], "writer"),
    ("POST", "start-grace", None, [("If-Match", '"4", "5"')], "writer"),
    ("POST", "reactivate", None, [], "writer"),  # 409 invalid-transition
    ("POST", "cancel", None, [("Idempotency-Key", "k1")], "writer"),
    ("POST", "cancel", None, [("Idempotency-Key", "k1")], "writer"),  # replayed
    ("POST", "reactivate", {"reason": "x"}, [("Idempotency-Key", "k1")], "writer"),  # reused
    ("POST", "reactivate", None, [("Idempotency-Key", "")], "writer"),  # 422
    ("POST", "reactivate", None, [("Idempotency-Key", "k" * 256)], "writer"),  # 422
    ("POST", "reactivate", None, [("Idempotency-Key", "a"), ("Idempotency-Key", "b")], "writer"),
    ("POST", "reactivate", None, [("If-Match", '"7"'), ("If-Match", '"8"')], "writer"),
    ("POST", "restore", None, [], "writer"),  # 403: restore needs tenants:delete
    ("POST", "reactivate", None, [], "reader"),  # 403
    ("POST", "reactivate", None, [], "writer"),
    ("GET", None, None, [], "reader"),
    ("HEAD", None, None, [], "reader"),
    ("GET", None, None, [], "writer"),  # 403: no tenants:read
    ("GET", "?min_position=0", None, [], "reader"),
    ("GET", "?min_position=-1", None, [], "reader"),  # 422
    ("POST", "?x=1/pause", None, [], "writer"),  # a query string goes to FastAPI
]

#: Registrations: (body as text, extra headers, key); ``{slug}`` is the run's own slug.
REGISTRATIONS: list[tuple[str, list[tuple[str, str]], str]] = [
    (
        '{"slug": "{slug}-a", "name": "A", "plan": "pro", "trial_days": 30,'
        ' "metadata": {"n": 1, "deep": {"x": [1, true, null]}}, "timezone": "Europe/Paris"}',
        [],
        "writer",
    ),
    ('{"slug": "{slug}-a", "name": "Again"}', [], "writer"),  # 409 slug-taken
    ('{"slug": "{slug}-b", "name": "B", "trial_days": "5"}', [], "writer"),  # strict: 422
    ('{"slug": "{slug}-b", "name": "B", "colour": "red"}', [], "writer"),  # unknown field
    ('{"slug": "Not A Slug", "name": "B"}', [], "writer"),
    ('{"slug": "{slug}-b", "name": NaN}', [], "writer"),  # orjson refuses NaN: FastAPI's
    ('{"slug": "{slug}-b", "name": "\\ud800"}', [], "writer"),  # a lone surrogate
    ("[]", [], "writer"),
    ("", [], "writer"),
    ('{"slug": "{slug}-c", "name": "C"}', [("Idempotency-Key", "r1")], "writer"),
    ('{"slug": "{slug}-c", "name": "C"}', [("Idempotency-Key", "r1")], "writer"),  # replay
    ('{"slug": "{slug}-d", "name": "D"}', [], "reader"),  # 403
]

#: Requests on other ids: unknown, not canonical (upper case), not an id at all.
ODD_IDS: list[tuple[str, str]] = [
    ("GET", f"/v1/tenants/{UNKNOWN}"),
    ("POST", f"/v1/tenants/{UNKNOWN}/activate"),
    ("POST", "/v1/tenants/not-an-id/activate"),
    ("GET", "/v1/tenants/not-an-id"),
]


@pytest.fixture
def plain_client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    """An app that sends every request through FastAPI."""
    with TestClient(create_app(settings, clock, fast_routes=False)) as test_client:
        yield test_client


@pytest.fixture
def fast_client(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, list[int]]]:
    """An app with the fast routes, and a list that counts the requests they answered."""
    taken: list[int] = []
    run = FastRoutes.run

    async def counting(self: FastRoutes, call: Any) -> Any:
        taken.append(1)
        return await run(self, call)

    monkeypatch.setattr(FastRoutes, "run", counting)
    with TestClient(create_app(settings, clock)) as test_client:
        yield test_client, taken


def _answers(client: TestClient, settings: Settings, make_key: MakeKey) -> list[tuple[Any, ...]]:
    keys = _keys(make_key)
    slug = f"parity-{uuid.uuid4().hex[:8]}"
    tenant = register(client, keys["writer"], slug, name="Parity")
    tenant_id = tenant["id"]
    answers = []
    for method, path, body, headers, who in STEPS:
        if method == "GET":
            project(settings)
        url = f"/v1/tenants/{tenant_id}"
        if path is not None:
            url += path if path.startswith("?") else f"/{path}"
        content = None if body is None else _json(body)
        request_headers = [*keys[who].items(), *headers]
        if content is not None:
            request_headers.append(("Content-Type", "application/json"))
        response = client.request(method, url, content=content, headers=request_headers)
        answers.append(_normal(response, tenant_id, slug))
    for method, url in ODD_IDS:
        response = client.request(method, url, headers=keys["admin"])
        answers.append(_normal(response, tenant_id, slug))
    upper = f"/v1/tenants/{tenant_id.upper()}/pause"
    answers.append(_normal(client.post(upper, headers=keys["writer"]), tenant_id, slug))
    for text, headers, who in REGISTRATIONS:
        request_headers = [*keys[who].items(), *headers, ("Content-Type", "application/json")]
        content = text.replace("{slug}", slug).encode()
        response = client.post("/v1/tenants", content=content, headers=request_headers)
        answers.append(_normal(response, tenant_id, slug))
    return answers


def _keys(make_key: MakeKey) -> dict[str, dict[str, str]]:
    """Authorization headers of keys of the caller's own (idempotency keys are scoped by
    API key, so two runs never share a record)."""
    return {
        "writer": bearer(make_key("tenants:write")),
        "reader": bearer(make_key("tenants:read")),
        "admin": bearer(make_key("admin")),
    }


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _normal(response: Any, tenant_id: str, slug: str) -> tuple[Any, ...]:
    """What must be equal: status, body, and the headers a client reads (ids taken out)."""
    text = response.text.replace(tenant_id, "<id>").replace(slug, "<slug>")
    text = _UUID.sub("<uuid>", _REQUEST_ID.sub("urn:request:<id>", text))
    kept = {"etag", "location", "content-type", "idempotent-replayed", "allow", "retry-after"}
    headers = sorted(
        (name, _UUID.sub("<uuid>", value.replace(tenant_id, "<id>")))
        for name, value in response.headers.items()
        if name in kept
    )
    return response.status_code, text, headers


def test_fast_routes_answer_as_fastapi_does(
    settings: Settings,
    make_key: MakeKey,
    plain_client: TestClient,
    fast_client: tuple[TestClient, list[int]],
) -> None:
    client, taken = fast_client
    plain = _answers(plain_client, settings, make_key)
    fast = _answers(client, settings, make_key)
    for step, (a, b) in enumerate(zip(plain, fast, strict=True)):
        assert a == b, f"request {step} answered differently"
    # The fast path really answered the plain requests (and only they went that way).
    statuses = [status for status, _, _ in fast]
    assert {200, 201, 403, 409, 412, 422} <= set(statuses)
    assert 15 <= len(taken) < len(fast)


#: List requests: query string (``{cursor}``: the ``next_cursor`` of ``?limit=1``), key.
LISTS: list[tuple[str, str]] = [
    ("", "reader"),
    ("?status=trial", "reader"),
    ("?status=active&limit=2", "reader"),
    ("?limit=1", "reader"),
    ("?limit=200", "reader"),
    ("?limit=%31", "reader"),  # percent-encoded "1"
    ("?limit=1&cursor={cursor}", "reader"),
    ("?cursor=", "reader"),  # 422 (the route refuses it, on either path)
    ("?cursor=not-a-cursor", "reader"),  # 422
    ("?cursor=" + "a" * 513, "reader"),  # 422: too long, FastAPI's
    ("?limit=201", "reader"),  # 422, FastAPI's
    ("?limit=0", "reader"),
    ("?limit=050", "reader"),  # FastAPI reads it; the fast path leaves it to FastAPI
    ("?limit=5%0A", "reader"),
    ("?limit=x", "reader"),
    ("?status=nope", "reader"),
    ("?status=trial&status=active", "reader"),
    ("?Status=trial", "reader"),  # an unknown parameter: FastAPI ignores it
    ("?q=parity", "reader"),
    ("?include_deleted=true&limit=1", "reader"),
    ("?min_position=0&limit=1", "reader"),
    ("?limit=1", "writer"),  # 403: no tenants:read
]
#: How many of them the fast path answers itself (the first nine; the rest go to FastAPI).
FAST_LISTS = 9


def test_fast_list_answers_as_fastapi_does(
    settings: Settings,
    make_key: MakeKey,
    plain_client: TestClient,
    fast_client: tuple[TestClient, list[int]],
) -> None:
    """Both apps read the same table (nothing is written between them): the same bytes."""
    client, taken = fast_client
    keys = _keys(make_key)
    for n in range(3):
        register(plain_client, keys["writer"], f"list-{uuid.uuid4().hex[:8]}-{n}", name="L")
    project(settings)
    first = plain_client.get("/v1/tenants?limit=1", headers=keys["reader"]).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    statuses = []
    for query, who in LISTS:
        url = "/v1/tenants" + query.replace("{cursor}", cursor)
        plain = plain_client.get(url, headers=keys[who])
        fast = client.get(url, headers=keys[who])
        bodies = [_REQUEST_ID.sub("urn:request:<id>", r.text) for r in (plain, fast)]
        assert plain.status_code == fast.status_code, query
        assert bodies[0] == bodies[1], query
        assert plain.headers.get("content-type") == fast.headers.get("content-type"), query
        statuses.append(fast.status_code)
    assert {200, 403, 422} <= set(statuses)
    assert len(taken) == FAST_LISTS
