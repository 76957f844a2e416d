"""Issue 11, part 1: idempotency answers keep no personal data past a purge, and refused
requests leave no fingerprint that could confirm a guess of what they carried."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, register
from tests.support.hook_clock import HookClock

NAME, EMAIL = "Zq9 Private Name", "zq9-private@pii.example"


def _records(settings: Settings) -> list[tuple[bytes, bytes | None, UUID | None]]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT fingerprint, response, tenant_id FROM tenant_registry.idempotency_records"
        ).fetchall()
    return [(bytes(f), None if r is None else bytes(r), t) for f, r, t in rows]


def _unsalted(method: str, path: str, body: bytes) -> bytes:
    """The fingerprint anyone could compute from a guessed body (the old scheme)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@pytest.fixture
def deleted_tenant(client: TestClient, admin: Headers) -> str:
    tenant_id: str = register(client, admin, "doomed", name=NAME, contact_email=EMAIL)["id"]
    assert client.post(f"/v1/tenants/{tenant_id}/cancel", headers=admin).status_code == 200
    assert client.delete(f"/v1/tenants/{tenant_id}", headers=admin).status_code == 200
    return tenant_id


@pytest.fixture
def purge_on_first_look(
    settings: Settings, clock: FrozenClock, deleted_tenant: str
) -> Iterator[TestClient]:
    """An app whose write model, the moment it has loaded the tenant and asks the time to
    decide, lets a purge of that tenant commit first."""
    due = clock.now() + timedelta(days=settings.retention_days, seconds=1)
    sweeper = TenantRegistry(settings, FrozenClock(due))

    def purge() -> None:
        assert sweeper.purge(UUID(deleted_tenant)) == "changed"

    no_cache = settings.model_copy(update={"aggregate_cache_size": 0})
    registry = TenantRegistry(no_cache, HookClock(due, purge))
    try:
        with TestClient(create_app(settings, clock, registry=registry)) as test_client:
            yield test_client
    finally:
        registry.close()
        sweeper.close()


def test_replayed_no_op_racing_a_purge_stores_no_personal_data(
    purge_on_first_look: TestClient, admin: Headers, settings: Settings, deleted_tenant: str
) -> None:
    headers = {**admin, "Idempotency-Key": "delete-again"}
    # A retried DELETE of the deleted tenant is a no-op; the purge commits between the
    # decision and the recording of the answer.
    answer = purge_on_first_look.delete(f"/v1/tenants/{deleted_tenant}", headers=headers)
    assert answer.status_code in (200, 410)
    replay = purge_on_first_look.delete(f"/v1/tenants/{deleted_tenant}", headers=headers)
    for response in (answer, replay):
        assert NAME not in response.text
        assert EMAIL not in response.text
    for _, body, tenant_id in _records(settings):
        assert tenant_id != UUID(deleted_tenant)
        assert body is None or (NAME.encode() not in body and EMAIL.encode() not in body)


def test_refused_registration_keeps_no_fingerprint_that_confirms_a_guess(
    client: TestClient, admin: Headers, settings: Settings, deleted_tenant: str
) -> None:
    body = b'{"slug": "doomed", "name": "Guessed Name", "contact_email": "guess@pii.example"}'
    headers = {**admin, "Idempotency-Key": "guess", "Content-Type": "application/json"}
    refused = client.post("/v1/tenants", content=body, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/slug-taken")
    stored = {fingerprint for fingerprint, _, _ in _records(settings)}
    assert stored  # the refusal is an answer to replay, so it is recorded
    for guess in (body, body.replace(b"Guessed Name", b"Other Name")):
        assert _unsalted("POST", "/v1/tenants", guess) not in stored
    # Yet the same request is still recognised (and replayed), another one refused.
    again = client.post("/v1/tenants", content=body, headers=headers)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (409, "true")
    other = body.replace(b"Guessed Name", b"Other Name")
    assert client.post("/v1/tenants", content=other, headers=headers).status_code == 422
