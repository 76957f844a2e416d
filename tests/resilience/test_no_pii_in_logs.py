"""No personal data in any process's output (SPEC §2: PII is name, e-mail, metadata).

``serve``, ``project`` and ``worker`` run at DEBUG level with their stdout and stderr captured,
beside one-shot commands (``sweep``, ``projections status``, ``api-keys list``). Tenants carry
marker strings in their names, e-mails, metadata keys and values and command reasons; they go
through registration, profile updates, refused requests (bad e-mail, NUL in metadata, slug
taken, a deleted tenant's update), the lifecycle and two purges (one by a worker job, one by
``sweep purge`` under ``faketime``). No output of any process may contain a marker. A second
test provokes 500s whose exceptions quote the input: their logged tracebacks hold no marker.
"""

from __future__ import annotations

import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import gettempdir
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from api.app import create_app
from api.keys import KeyAdmin
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.db import connect
from common.settings import Settings
from domain.errors import TenantGone
from tests.resilience.conftest import MakeStack, settings_for
from tests.resilience.stack import wait_until
from tests.support.faults import FaultyRegistry, captured_logs, log_lines
from tests.support.private_redis import PrivateRedis
from workers.jobs import purge_deleted

pytestmark = pytest.mark.resilience

#: Every marker contains this (any case): one search finds them all.
TOKEN = "zqx"
#: Files' paths under this machine's top folders (the checkout's, the interpreter's, the
#: temporary one): the checkout may live in a temporary folder whose random name holds the
#: marker (a fresh clone in ``/tmp/tmp.y8dxtzqxpa`` did), and tracebacks quote it. URL paths
#: (``/v1/…``) are left alone: a request's path is still searched.
_TOPS = sorted(
    {Path(p).resolve().parts[1] for p in (__file__, sys.prefix, sys.base_prefix, gettempdir())}
)
_PATH = re.compile(rb"/(?:" + b"|".join(re.escape(t.encode()) for t in _TOPS) + rb")(?:/[\w.+-]+)+")


def _without_paths(text: bytes) -> bytes:
    return _PATH.sub(b"<path>", text)


def _tenant(n: int) -> dict[str, object]:
    return {
        "slug": f"pii-{n}",
        "name": f"Zqxname Person{n}",
        "contact_email": f"zqxmail{n}@zqxdomain.example",
        "metadata": {f"zqxkey{n}": f"zqxvalue{n}", "nested": {"crm": f"ZQXCRM-{n}"}},
    }


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (apt faketime)")
def test_no_process_writes_personal_data_to_its_output(
    database: str, redis_server: PrivateRedis, make_stack: MakeStack
) -> None:
    settings = settings_for(database, redis_server.url)
    stack = make_stack(
        database,
        redis_server.url,
        TENANT_REGISTRY_LOG_LEVEL="DEBUG",
        TENANT_REGISTRY_RETENTION_DAYS="1",
    )
    secret = stack.create_key("pii")
    api = stack.serve()
    stack.start("projector", "project")
    stack.start("worker", "worker")
    headers = {"Authorization": f"Bearer {secret}"}
    # The CLI commands below can take longer than uvicorn's 5 s keep-alive on a busy machine;
    # a connection idle for more than a second is not reused, so the next request never goes
    # out on one the server is closing (seen beside stress-ng: "connection reset by peer").
    keepalive = httpx.Limits(keepalive_expiry=1.0)
    with httpx.Client(base_url=api.url, headers=headers, timeout=30, limits=keepalive) as client:
        ids = [_register(client, n) for n in range(3)]
        _refused_requests(client, ids[0])
        # One tenant is purged by a worker job, the other by the sweep command.
        _delete(client, ids[0])
        later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        with Redis.from_url(redis_server.url) as redis:
            job = Queue(settings.queue_name, connection=redis).enqueue(
                purge_deleted, kwargs={"now": later}
            )
            wait_until(lambda: job.get_status(refresh=True) == "finished", 60, "the purge job")
        _delete(client, ids[1])
        refused = client.patch(f"/v1/tenants/{ids[1]}", json={"name": "Zqxname Deleted"})
        assert refused.status_code == 409
        swept = stack.run("sweep", "purge", faketime="+2 days")
        assert swept.returncode == 0, swept.stderr
        for command in (("sweep", "trials"), ("projections", "status"), ("api-keys", "list")):
            assert stack.run(*command).returncode == 0
        assert client.get(f"/v1/tenants/{ids[0]}").status_code == 410
        assert client.get("/v1/tenants", params={"q": "zqxname"}).json()["data"]

    registry = TenantRegistry(settings)
    try:
        for tenant in ids[:2]:
            with pytest.raises(TenantGone):
                registry.history(UUID(tenant))
    finally:
        registry.close()
    codes = stack.stop_all()  # uvicorn re-raises SIGTERM after its graceful shutdown
    assert (codes["projector"], codes["worker"]) == (0, 0), codes
    outputs = stack.outputs()
    assert b'"level":"debug"' in outputs["worker.log"]  # the level took effect
    scrubbed = {name: _without_paths(text) for name, text in outputs.items()}
    found = {
        name: sorted(set(re.findall(rb"\S{0,30}zqx\S{0,30}", text, re.IGNORECASE)))[:5]
        for name, text in scrubbed.items()
        if TOKEN.encode() in text.lower()
    }
    assert found == {}


def _delete(client: httpx.Client, tenant: str) -> None:
    for command in ("activate", "cancel"):
        reason = {"reason": f"zqxreason {command}"}
        assert client.post(f"/v1/tenants/{tenant}/{command}", json=reason).is_success
    assert client.request("DELETE", f"/v1/tenants/{tenant}", json=reason).is_success


def _register(client: httpx.Client, n: int) -> str:
    created = client.post("/v1/tenants", json=_tenant(n), headers={"Idempotency-Key": f"r{n}"})
    assert created.status_code == 201, created.text
    tenant = created.json()["id"]
    changes = {"name": f"Zqxname Renamed{n}", "metadata": {"zqxnew": f"zqxnewvalue{n}"}}
    assert client.patch(f"/v1/tenants/{tenant}", json=changes).status_code == 200
    return str(tenant)


def _refused_requests(client: httpx.Client, tenant: str) -> None:
    """Errors whose requests carry personal data: none may be logged with it."""
    bad_mail = {**_tenant(9), "contact_email": "zqxbad@@zqx"}
    nul = {**_tenant(9), "metadata": {"zqxkey": "zqx\u0000value"}}
    taken = {**_tenant(9), "slug": "pii-0"}
    for body, status in ((bad_mail, 422), (nul, 422), (taken, 409)):
        assert client.post("/v1/tenants", json=body).status_code == status
    duplicate = b'{"slug": "pii-dup", "name": "Zqxname A", "name": "Zqxname B"}'
    typed = {"Content-Type": "application/json"}
    assert client.post("/v1/tenants", content=duplicate, headers=typed).status_code == 422
    text = {"Content-Type": "text/plain"}
    assert client.post("/v1/tenants", content=b"zqx plain", headers=text).status_code == 415
    unknown = client.get("/v1/tenants/00000000-0000-0000-0000-000000000000/zqxname")
    assert unknown.status_code == 404
    assert client.get("/v1/tenants", params={"q": "zqxname\u0000"}).status_code == 422
    assert client.patch(f"/v1/tenants/{tenant}", json={"slug": "zqx"}).status_code == 422


def test_tracebacks_of_failed_requests_hold_no_personal_data(
    settings: Settings, clock: FrozenClock
) -> None:
    """A bug whose exception quotes the input (a ``repr`` of the fields, a pydantic error's
    ``input_value``s) is logged with its traceback, and without the personal data."""
    with connect(settings) as conn:
        _, secret = KeyAdmin(conn, settings).create("pii-traceback", ("admin",), clock.now())
    registry = FaultyRegistry(settings, clock)
    try:
        app = create_app(settings, clock, registry=registry)
        with captured_logs() as output, TestClient(app) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            for n in range(2):
                response = client.post("/v1/tenants", json=_tenant(n), headers=headers)
                assert response.status_code == 500
    finally:
        registry.close()
    server = [line for line in log_lines(output) if not line["logger"].startswith("httpx")]
    tracebacks = [line["traceback"] for line in server if "traceback" in line]
    assert len(tracebacks) == 2
    assert all("ValidationError" in trace and "RuntimeError" in trace for trace in tracebacks)
    assert TOKEN.encode() not in _without_paths(str(server).encode()).lower()
