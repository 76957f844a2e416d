"""``TenantDirectory`` follows a real registry: bootstrap, stream, resume after cuts, purges."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from tenant_registry_client import (
    Arrival,
    CommandResult,
    InvalidTransition,
    TenantDirectory,
    TenantRegistryClient,
)

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from projections.schema import COLUMNS, PURGED, TENANTS
from tests.client.registry_processes import RunningRegistry
from tests.support.tcp_proxy import TcpProxy

FOLLOW_SECONDS = 60.0
LIFECYCLE = ("activate", "start-grace", "pause", "cancel", "reactivate")


@pytest.fixture
def proxy(registry_server: RunningRegistry) -> Iterator[TcpProxy]:
    """The network between the directory and the registry (cut with ``drop_all``)."""
    network = TcpProxy(registry_server.port)
    yield network
    network.close()


@pytest.fixture
def purger(module_settings: Settings) -> Iterator[TenantRegistry]:
    """The application with its clock past every retention: it purges deleted tenants."""
    later = datetime.now(UTC) + timedelta(days=module_settings.retention_days + 1)
    app = TenantRegistry(module_settings, FrozenClock(later))
    yield app
    app.close()


def read_table(settings: Settings) -> tuple[dict[UUID, dict[str, Any]], set[UUID], int]:
    """The read table's rows by id, the purged ids, and the highest position of either."""
    schema = settings.db_schema
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT {}, position FROM {}").format(columns, sql.Identifier(schema, TENANTS))
        ).fetchall()
        purged = conn.execute(
            sql.SQL("SELECT id, position FROM {}").format(sql.Identifier(schema, PURGED))
        ).fetchall()
    table = {row[0]: dict(zip(COLUMNS, row, strict=False)) for row in rows}
    top = max([row[-1] for row in rows] + [row[1] for row in purged] + [0])
    return table, {row[0] for row in purged}, top


class Workload:
    """Random commands through the client, purges through the application."""

    def __init__(self, api: TenantRegistryClient, purger: TenantRegistry, seed: int) -> None:
        self.api = api
        self.purger = purger
        self.rng = random.Random(seed)
        self.live: list[UUID] = []
        self.deleted: list[UUID] = []
        self.purged: list[UUID] = []
        self.done = 0
        #: Held by the test while it kills the API: a command cut mid-way would leave its
        #: idempotency claim to a 60 s lease (correct, but not what this test is about).
        self.gate = threading.Lock()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            with self.gate:
                self.step()
            self.done += 1

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.25 or len(self.live) < 5:
            result = self.api.register_tenant(
                f"w-{self.rng.getrandbits(40):010x}",
                "Workload",
                plan=self.rng.choice(["standard", "pro", "enterprise"]),
                metadata={"n": self.rng.randrange(1000)},
            )
            self.live.append(result.tenant.id)
        elif roll < 0.65:
            self._lifecycle(self.rng.choice(LIFECYCLE), self.rng.choice(self.live))
        elif roll < 0.8:
            tenant = self.rng.choice(self.live)
            self._try(lambda: self.api.update_tenant(tenant, name=f"N{self.rng.randrange(99)}"))
        elif roll < 0.9:
            tenant = self.rng.choice(self.live)
            self._lifecycle("cancel", tenant)
            if self._try(lambda: self.api.delete_tenant(tenant)):
                self.live.remove(tenant)
                self.deleted.append(tenant)
        elif roll < 0.95 and self.deleted:
            tenant = self.rng.choice(self.deleted)
            if self._try(lambda: self.api.restore_tenant(tenant)):
                self.deleted.remove(tenant)
                self.live.append(tenant)
        elif self.deleted:
            tenant = self.deleted.pop(self.rng.randrange(len(self.deleted)))
            assert self.purger.purge(tenant) == "changed"
            self.purged.append(tenant)

    def _lifecycle(self, command: str, tenant: UUID) -> None:
        method = getattr(self.api, f"{command.replace('-', '_')}_tenant")
        self._try(lambda: method(tenant))

    @staticmethod
    def _try(command: Any) -> bool:
        try:
            result = command()
        except InvalidTransition:
            return False
        assert isinstance(result, CommandResult)
        return True


def test_the_directory_equals_the_read_table_after_a_workload_with_cut_streams(
    *,
    registry_server: RunningRegistry,
    admin_key: str,
    api: TenantRegistryClient,
    proxy: TcpProxy,
    purger: TenantRegistry,
    module_settings: Settings,
) -> None:
    arrivals: list[Arrival] = []
    # The workload's own client rides out the API restarts with its retries.
    writer = TenantRegistryClient(registry_server.url, admin_key, max_retries=15)
    workload = Workload(writer, purger, seed=12)
    workload.run(60)  # something to bootstrap from
    reader = TenantRegistryClient(proxy.url, admin_key)
    directory = TenantDirectory(reader, observer=arrivals.append, max_backoff=1.0)
    directory.start()
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            workload.run(240)
        except BaseException as exc:
            failures.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        for cut, at_step in enumerate((100, 140, 180, 220)):
            _wait(lambda at=at_step: workload.done >= at or not driver.is_alive())
            if cut % 2 == 0:  # the stream dies with the server, between two commands
                with workload.gate:
                    registry_server.stop_api(signal.SIGTERM if cut == 0 else signal.SIGKILL)
                    registry_server.start_api()
            else:  # cut the live stream (and whatever else rides the proxy)
                _wait(lambda: directory.connected)
                assert proxy.drop_all() >= 2
        driver.join(timeout=300)
        assert not failures, failures
        table, purged, top = read_table(_caught_up(api, purger, module_settings))
        assert directory.wait_for(top, FOLLOW_SECONDS), (directory.position, top)
    finally:
        directory.stop()
        reader.close()
        writer.close()

    assert len(directory) == len(table)
    for tenant_id, row in table.items():
        held = directory.get(tenant_id)
        assert held is not None, tenant_id
        assert held.as_dict() == row
        assert directory.by_slug(row["slug"]) is held
    assert workload.purged
    assert purged >= set(workload.purged)
    assert all(directory.get(tenant_id) is None for tenant_id in purged)
    positions = [arrival.position for arrival in arrivals]
    assert positions == sorted(set(positions)), "an item arrived twice or out of order"
    assert directory.duplicates_skipped == 0
    assert max(a.connection for a in arrivals) >= 3  # it resumed after the cuts


def _caught_up(api: TenantRegistryClient, purger: TenantRegistry, settings: Settings) -> Settings:
    """Wait until the read table has every event of the store."""
    head = purger.head()
    api.changes_page(after=0, limit=1, min_position=head)
    return settings


def _wait(condition: Any, timeout: float = 120.0) -> None:
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not condition():
            assert not deadline.wait(0.05), "timed out"
    finally:
        timer.cancel()


def test_read_your_writes_after_a_command_and_a_purge_answers_none(
    api: TenantRegistryClient,
    admin_key: str,
    registry_server: RunningRegistry,
    purger: TenantRegistry,
) -> None:
    reader = TenantRegistryClient(registry_server.url, admin_key)
    directory = TenantDirectory(reader)
    directory.start()
    try:
        created = api.register_tenant("dir-acme", "Acme", timezone="Europe/Paris")
        assert directory.wait_for(created.position, FOLLOW_SECONDS)
        held = directory.get(created.tenant.id)
        assert held is not None
        assert held.timezone == "Europe/Paris"
        assert directory.by_slug("dir-acme") is held
        assert directory.get(str(created.tenant.id)) is held
        assert directory.lag_seconds == 0.0
        api.cancel_tenant(created.tenant.id)
        deleted = api.delete_tenant(created.tenant.id)
        assert directory.wait_for(deleted.position, FOLLOW_SECONDS)
        assert directory.get(created.tenant.id) is not None
        assert purger.purge(created.tenant.id) == "changed"
        assert directory.wait_for(purger.head(), FOLLOW_SECONDS)
        assert directory.get(created.tenant.id) is None
        assert directory.by_slug("dir-acme") is None
        assert directory.get("not-an-id") is None
    finally:
        directory.stop()
        reader.close()
