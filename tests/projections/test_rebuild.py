"""Blue/green rebuild: readers never fail or see a partial table; one rebuild at a time."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
from uuid import UUID

import psycopg
import pytest

from application.registry import TenantRegistry
from common.settings import Settings
from projections.queries import ReadModel
from projections.rebuild import REBUILD_LOCK_KEY, rebuild
from projections.runner import catch_up
from tests.projections.conftest import CLI, expected_row, table_snapshot, tenant_ids
from tests.support.seed import seed_events


class Readers:
    """Threads that query the read model in a loop and note anything wrong."""

    def __init__(self, model: ReadModel, ids: list[UUID], floor: int) -> None:
        self.model, self.ids, self.floor = model, ids, floor
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.states: set[str] = set()
        self.reads = 0
        self.threads = [threading.Thread(target=self._loop, args=(n,)) for n in range(3)]

    def _loop(self, seed: int) -> None:
        rng = random.Random(seed)
        last_total = self.floor
        while not self.stop.is_set():
            try:
                total = self.model.stats()["total"]
                page = self.model.list(limit=50)
                row = self.model.get(rng.choice(self.ids))
                self.states.add(self.model.projections()[0].state)
            except Exception as exc:  # every failure is a finding
                self.problems.append(repr(exc))
                continue
            if total < last_total or len(page.items) < 50 or row is None:
                self.problems.append(f"partial view: total={total} page={len(page.items)}")
            last_total = total
            self.reads += 1

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_readers_see_no_error_and_no_partial_table_during_a_rebuild(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    seed_events(registry, 6_000, seed=3)
    catch_up(settings)
    ids = tenant_ids(settings)
    before = read_model.stats()["total"]
    arrivals: list[UUID] = []

    def register_more() -> None:
        for i in range(40):
            arrivals.append(registry.register(slug=f"during-{i}", name="D", actor="t").tenant.id)

    with Readers(read_model, ids, before) as readers:
        writer = threading.Thread(target=register_more)
        writer.start()
        rebuild(settings, batch_size=300)
        writer.join(timeout=60)
    assert readers.problems == []
    assert readers.reads > 10
    assert "rebuilding" in readers.states

    catch_up(settings)
    after = table_snapshot(settings)
    rebuild(settings)  # rebuilding again from scratch gives the same table
    assert table_snapshot(settings) == after
    sample = random.Random(5).sample(ids, 50) + arrivals
    for tenant_id in sample:
        assert read_model.get(tenant_id) == expected_row(registry.get_tenant(tenant_id))


def test_a_second_rebuild_is_refused_while_one_runs(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    with psycopg.connect(settings.database_url, autocommit=True) as running:
        running.execute("SELECT pg_advisory_lock(%s)", (REBUILD_LOCK_KEY,))
        refused = subprocess.run(
            [CLI, "projections", "rebuild"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert refused.returncode == 1
    assert "another rebuild" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_status_command_reports_position_head_and_lag(
    settings: Settings, registry: TenantRegistry
) -> None:
    registry.register(slug="status-one", name="S", actor="t")
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    out = subprocess.run(
        [CLI, "projections", "status"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    (status,) = json.loads(out.stdout)["data"]
    assert status["name"] == "tenants"
    assert status["state"] == "stopped"
    assert status["head"] == registry.head()
    assert status["lag_events"] == registry.head() - status["position"] > 0
    assert status["lag_seconds"] >= 0


@pytest.mark.parametrize("command", [["project"], ["projections", "status"]])
def test_commands_fail_in_one_line_when_postgresql_is_unreachable(command: list[str]) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    out = subprocess.run(
        [CLI, *command], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.startswith("tenant-registry: cannot reach PostgreSQL")
    assert "Traceback" not in out.stderr
