"""Webhooks and personal data, and the outbound address policy, with real processes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.lifecycle import Command
from tests.webhooks.conftest import Start
from tests.webhooks.helpers import add_endpoint, deliveries
from tests.webhooks.receiver import Receiver
from tests.workers.helpers import pg_dump, redis_dump, wait_until

DEADLINE = 60
REGISTERED = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(REGISTERED)


@pytest.fixture
def registry(wsettings: Settings, clock: FrozenClock) -> Iterator[TenantRegistry]:
    app = TenantRegistry(wsettings, clock)
    yield app
    app.close()


def test_purge_leaves_no_pii_in_deliveries_postgres_or_redis(
    wsettings: Settings,
    registry: TenantRegistry,
    clock: FrozenClock,
    start: Start,
    redis_client: Redis,
) -> None:
    token = secrets.token_hex(6)
    markers = [f"Name-{token}", f"mail-{token}@example.org", f"Meta-{token}"]
    receiver = Receiver()
    receiver.start()
    down = Receiver()  # never started: its deliveries stay pending, retried
    try:
        add_endpoint(wsettings, receiver.url)
        stuck = add_endpoint(wsettings, down.url)
        # Retries an hour apart: the unreachable endpoint's deliveries stay pending.
        start("webhooks", "dispatch")
        start("worker", TENANT_REGISTRY_WEBHOOKS_RETRY_DELAYS="[3600]")
        tenant_id = registry.register(
            slug=f"pii-{token}",
            name=markers[0],
            contact_email=markers[1],
            metadata={"note": markers[2]},
            actor="test",
        ).tenant.id
        for command in (Command.CANCEL, Command.DELETE):
            registry.run(command, tenant_id, actor="test")
        wait_until(lambda: len(receiver.snapshot()) >= 3, DEADLINE)
        assert markers[1] in receiver.snapshot()[0].body.decode()  # the delivery itself has it

        clock.advance(timedelta(days=wsettings.retention_days + 1))
        assert registry.purge(tenant_id) == "changed"
        wait_until(
            lambda: any(r.document["type"] == "TenantPurged" for r in receiver.snapshot()),
            DEADLINE,
        )
        purged = next(r for r in receiver.snapshot() if r.document["type"] == "TenantPurged")
        assert purged.document["data"]["tenant_id"] == str(tenant_id)

        # The unreachable endpoint's pending deliveries of the erased events are dropped;
        # only its TenantPurged remains to deliver.
        def only_purge_pending() -> bool:
            pending = [
                r
                for r in deliveries(wsettings)
                if r["endpoint_id"] == stuck.id and r["status"] == "pending"
            ]
            return [r["event_type"] for r in pending] == ["TenantPurged"]

        wait_until(only_purge_pending, DEADLINE)
        dump = pg_dump(wsettings.database_url)
        cache = redis_dump(redis_client)
        assert b"deliver_endpoint" in cache  # the jobs are there to inspect
        for marker in markers:
            assert marker.encode() not in dump, marker
            assert marker.encode() not in cache, marker
    finally:
        receiver.stop()


def test_private_addresses_are_refused_at_delivery_and_nothing_is_sent(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        by_address = add_endpoint(wsettings, receiver.url, check=False)
        by_name = add_endpoint(wsettings, f"http://localhost:{receiver.port}/hook", check=False)
        start("webhooks", "dispatch", private=False)
        start("worker", private=False)
        registry.register(slug="guarded", name="Guarded Ltd", actor="test")

        def both_refused_twice() -> bool:
            rows = deliveries(wsettings)
            return len(rows) == 2 and all(r["attempt"] >= 2 for r in rows)

        wait_until(both_refused_twice, DEADLINE)
        rows = deliveries(wsettings)
        assert {r["endpoint_id"] for r in rows} == {by_address.id, by_name.id}
        assert {r["error"] for r in rows} == {"address-refused"}
        assert receiver.snapshot() == []  # no request left the process
    finally:
        receiver.stop()
