"""An imported tenant over HTTP: read, history, feed and commands treat it like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from fastapi.testclient import TestClient

from application.import_sources import SourceRow
from application.importer import Importer, batched_rows
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from projections.runner import catch_up
from tests.api.conftest import Headers, command

CREATED = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_imported_tenant_reads_with_its_own_times_and_takes_commands(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    tenant_id = str(uuid4())
    row = {"id": tenant_id, "name": "Old Co", "slug": "old-co", "status": "paused",
           "created_at": CREATED, "updated_at": CREATED + timedelta(days=9)}  # fmt: skip
    registry = TenantRegistry(settings, clock)
    try:
        summary = Importer(registry).run(batched_rows([SourceRow("row 1", row)], 10))
    finally:
        registry.close()
    assert summary.imported == 1
    catch_up(settings)

    tenant = client.get(f"/v1/tenants/{tenant_id}", headers=admin).json()
    assert (tenant["slug"], tenant["status"], tenant["version"]) == ("old-co", "paused", 1)
    assert datetime.fromisoformat(tenant["created_at"]) == CREATED
    assert datetime.fromisoformat(tenant["paused_at"]) == CREATED + timedelta(days=9)
    (event,) = client.get(f"/v1/tenants/{tenant_id}/events", headers=admin).json()["data"]
    assert (event["type"], event["actor"]) == ("TenantImported", "import")
    assert datetime.fromisoformat(event["occurred_at"]) == clock.now()
    assert datetime.fromisoformat(event["data"]["created_at"]) == CREATED
    feed = client.get("/v1/events?type=TenantImported", headers=admin).json()["data"]
    assert [e["tenant_id"] for e in feed] == [tenant_id]

    activated = command(client, admin, tenant_id, "activate").json()
    assert (activated["status"], activated["version"]) == ("active", 2)
