"""Hostile input on every route, through a real ``serve`` process (SPEC §3: never a 500).

The table (:mod:`tests.resilience.hostile_cases`) holds SQL metacharacters, NUL, lone
surrogates, invalid UTF-8, RTL overrides, emoji and 10,000-character strings in every string
field and query parameter; bodies over 64 KiB and JSON nested 100,000 deep; wrong media types;
invalid ids, cursors, positions and limits; oversized and malformed headers; duplicate keys and
numbers such as ``1e400``. Each must get a 4xx problem document that echoes nothing of the
input and leaks no traceback or SQL, and must write nothing: the event store, idempotency
records and read table are unchanged. Valid but exotic text must round-trip exactly. A
projector runs beside the server: whatever was accepted must also project.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from application.registry import TenantRegistry
from common.settings import Settings
from tests.resilience import rawhttp
from tests.resilience.checks import projected_position, store_counts
from tests.resilience.conftest import NO_REDIS_URL, new_database, settings_for
from tests.resilience.hostile_cases import MARK, Hostile, hostile_requests
from tests.resilience.stack import Process, Stack, wait_until
from tests.support.projector_status import projector_states

pytestmark = pytest.mark.resilience

LEAKS = (b"Traceback", b'File "', b"psycopg", b"SELECT ", b"INSERT ", b"tenantregistry_")
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Server:
    """The ``serve`` process under attack and what the table needs to address it."""

    api: Process
    stack: Stack
    settings: Settings
    secret: str
    tenant: str
    db: psycopg.Connection[Any]

    def get(self, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secret}"}
        return httpx.get(self.api.url + path, params=params, headers=headers, timeout=20)

    def post(self, path: str, document: Any, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        content = orjson.dumps(document)
        return httpx.post(self.api.url + path, content=content, headers=headers, timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with new_database() as url:
        stack = Stack(Path(tmp_path_factory.mktemp("hostile")), url, NO_REDIS_URL)
        try:
            secret = stack.create_key("hostile")
            api = stack.serve()
            projector = stack.start("projector", "project")
            settings = settings_for(url)
            wait_until(lambda: projector_states(settings).get(projector.popen.pid) == "running",
                       30, "the projector")  # fmt: skip
            with psycopg.connect(url, autocommit=True) as db:
                server = Server(api, stack, settings, secret, "", db)
                created = server.post("/v1/tenants", {"slug": "target", "name": "Target"})
                assert created.status_code == 201, created.text
                position = int(created.headers["x-event-position"])
                wait_until(lambda: projected_position(settings) >= position, 30, "projected")
                yield Server(api, stack, settings, secret, created.json()["id"], db)
        finally:
            stack.stop_all()


def _send(server: Server, case: Hostile) -> rawhttp.RawResponse:
    head = case.method.encode() + b" " + case.target.replace(b"{tenant}", server.tenant.encode())
    head += b" HTTP/1.1\r\n"
    if case.auth:
        head += b"Authorization: Bearer " + server.secret.encode() + b"\r\n"
    if case.idempotency_key:
        head += b"Idempotency-Key: hostile-" + secrets.token_hex(8).encode() + b"\r\n"
    if case.content_type is not None:
        head += b"Content-Type: " + case.content_type + b"\r\n"
    assert server.api.port is not None
    return rawhttp.request(server.api.port, head + case.headers, case.body)


def _judge(case: Hostile, response: rawhttp.RawResponse) -> list[str]:
    """What is wrong with the answer to ``case`` (nothing: an empty list)."""
    wrong = []
    if response.status not in case.statuses:
        wrong.append(f"status {response.status}, expected one of {sorted(case.statuses)}")
    if any(leak in response.body for leak in LEAKS):
        wrong.append("leaks a traceback or SQL")
    if MARK.encode() in response.body or MARK.lower().encode() in response.body:
        wrong.append("echoes the input")
    if case.problem:
        problem = response.problem()
        if response.content_type != PROBLEM_JSON:
            wrong.append(f"content type {response.content_type!r}")
        if problem.get("status") != response.status or not problem.get("detail"):
            wrong.append("not a problem document")
        elif not str(problem.get("type", "")).startswith("https://tenant-registry.dev/problems/"):
            wrong.append("problem type outside the registry's")
    return wrong


HOSTILE = hostile_requests()


@pytest.mark.parametrize("family", HOSTILE)
def test_hostile_requests_get_a_4xx_problem_and_write_nothing(server: Server, family: str) -> None:
    failures = []
    for case in HOSTILE[family]:
        before = store_counts(server.settings, server.db)
        response = _send(server, case)
        wrong = _judge(case, response)
        if store_counts(server.settings, server.db) != before:
            wrong.append("wrote to the database")
        if wrong:
            failures.append(f"{case.id}: {'; '.join(wrong)}: {response.body[:300]!r}")
    assert not failures, "\n".join(failures)


EXOTIC_NAMES = {
    "sql": "Robert'); DROP TABLE tenants; --",
    "like-wildcards": "100% _real_ \\ name",
    "rtl-override": "\u202eevil\u202c Ltd",
    "hebrew": "שלום עולם בע״מ",
    "arabic": "شركة مثال",
    "emoji-zwj": "👩‍👩‍👧‍👦 Family 🙂",
    "combining": "Cafe\u0301 Zalgo\u0336\u0337",
    "markup": "<script>alert(1)</script>",
    "template": "${jndi:ldap://x/a} {{7*7}}",
    "200-chars": "n" * 200,
    "astral": "\U0001d518\U0001d52b\U0001d526",
}


@pytest.mark.parametrize("kind", EXOTIC_NAMES)
def test_exotic_but_valid_text_round_trips_exactly(server: Server, kind: str) -> None:
    name = EXOTIC_NAMES[kind]
    metadata = {"note": name, kind: "\u0007bell \u202e rtl 🙂", "nested": {"list": [name, 1.5]}}
    slug = f"exotic-{secrets.token_hex(4)}"
    created = server.post("/v1/tenants", {"slug": slug, "name": name, "metadata": metadata}, kind)
    assert created.status_code == 201, created.text
    tenant_id, position = created.json()["id"], created.headers["x-event-position"]
    paused = server.post(f"/v1/tenants/{tenant_id}/pause", {"reason": name})
    assert paused.status_code == 200, paused.text

    read = server.get(f"/v1/tenants/{tenant_id}", min_position=paused.headers["x-event-position"])
    assert read.status_code == 200, read.text
    assert (read.json()["name"], read.json()["metadata"]) == (name, metadata)
    history = server.get(f"/v1/tenants/{tenant_id}/events").json()["data"]
    assert history[0]["data"]["name"] == name and history[0]["data"]["metadata"] == metadata
    assert history[1]["reason"] == name
    found = server.get("/v1/tenants", q=name, min_position=position).json()["data"]
    assert tenant_id in [t["id"] for t in found]
    # A LIKE wildcard in q is text, not a pattern: only names that contain it match.
    for wildcard in ("%", "_"):
        hits = server.get("/v1/tenants", q=wildcard, limit=200).json()["data"]
        assert all(wildcard in t["name"] or t["slug"].startswith(wildcard) for t in hits)


def test_server_survives_the_table_and_everything_accepted_projects(server: Server) -> None:
    registry = TenantRegistry(server.settings)
    try:
        head = registry.head()
    finally:
        registry.close()
    wait_until(lambda: projected_position(server.settings) >= head, 30, "the projector")
    projections = server.get("/v1/projections").json()["data"]
    assert [(p["state"], p["last_error"]) for p in projections] == [("running", None)]
    assert server.get("/healthz").status_code == 200
    assert server.api.alive()
    for name, output in server.stack.outputs().items():
        assert b"Traceback" not in output, (name, output[-3000:])
        assert b'"status":500' not in output, name
        assert MARK.encode() not in output, name
