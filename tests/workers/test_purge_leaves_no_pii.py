"""After a purge run by a worker, no dump of PostgreSQL or Redis holds the tenant's PII."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import Queue

from application.idempotency import Claim, IdempotencyStore, IdempotentRequest
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.db import connect
from common.settings import Settings
from domain.errors import TenantGone
from domain.lifecycle import Command
from projections.runner import catch_up
from tests.workers.helpers import pg_dump, redis_dump, run_cli
from workers.jobs import purge_deleted

REGISTERED = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
AFTER_RETENTION = "2027-04-11T00:00:00+00:00"


def idempotency_claim(settings: Settings, clock: FrozenClock, body: bytes) -> Claim:
    """A claimed ``Idempotency-Key`` whose answer (the tenant, PII included) the command stores."""
    store = IdempotencyStore(settings, clock, lambda: connect(settings))
    request = IdempotentRequest("k1", secrets.token_hex(4), "PATCH", "/v1/tenants/x", body)
    claim = store.claim(request)
    assert isinstance(claim, Claim)
    return claim


def test_purge_erases_pii_from_the_database_dump_and_redis(
    wsettings: Settings, queue: Queue, redis_client: Redis, env: dict[str, str]
) -> None:
    token = secrets.token_hex(6)
    markers = [f"Name-{token}", f"mail-{token}@example.org", f"Meta-{token}"]
    settings = wsettings.model_copy(update={"snapshot_interval": 2})  # snapshots hold PII too
    clock = FrozenClock(REGISTERED)
    registry = TenantRegistry(settings, clock)
    try:
        tenant_id = registry.register(
            slug=f"t-{token}",
            name=markers[0],
            contact_email=markers[1],
            metadata={"note": markers[2]},
            actor="test",
        ).tenant.id
        registry.update_profile(
            tenant_id,
            {"name": f"{markers[0]}-renamed", "metadata": {"note": markers[2], "n": 2}},
            actor="key:test",
            claim=idempotency_claim(settings, clock, f'{{"name": "{markers[0]}"}}'.encode()),
        )
        registry.run(Command.CANCEL, tenant_id, actor="test")
        registry.run(Command.DELETE, tenant_id, actor="test")
        catch_up(settings)
        before = pg_dump(settings.database_url)
        assert all(m.encode() in before for m in markers)  # the dump does show PII
        decoy = f"Decoy-{token}"
        decoy_job = Queue("decoy", connection=redis_client).enqueue("builtins.print", decoy)
        assert decoy.encode() in redis_dump(redis_client)  # and so would the Redis dump
        decoy_job.delete()

        queue.enqueue(purge_deleted, kwargs={"now": AFTER_RETENTION})
        result = run_cli("worker", "--burst", env=env)
        assert result.returncode == 0, result.stderr

        with pytest.raises(TenantGone):
            registry.history(tenant_id)
        after = pg_dump(settings.database_url)
        cache = redis_dump(redis_client)
        assert b"purge_deleted" in cache  # the job and its result are there to inspect
        for marker in markers:
            assert marker.encode() not in after, marker
            assert marker.encode() not in cache, marker
            assert marker not in result.stderr, marker
        assert str(tenant_id).encode() in after  # the PII-free tombstone stays
    finally:
        registry.close()
