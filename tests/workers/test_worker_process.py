"""Sweeps run by real ``tenant-registry worker`` processes on a private Redis.

The tenants live at the ``registry`` fixture's frozen time (2027-01-10); the jobs get the
instant to sweep at as their ``now`` argument (an ISO string), which is how a test moves a
worker process in time without touching its clock.
"""

from __future__ import annotations

import secrets
import signal
from pathlib import Path
from uuid import UUID

import psycopg
from psycopg import sql
from rq import Queue

from application.registry import TenantRegistry
from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.errors import TenantGone
from domain.lifecycle import Command
from domain.tenant import Status
from projections.runner import catch_up
from tests.workers.helpers import run_cli, start_cli, stop_process, wait_until
from workers.jobs import expire_grace, expire_trials, purge_deleted

AFTER_TRIAL = "2027-01-25T00:00:00+00:00"  # trials of 2027-01-10 end 2027-01-24 local
AFTER_RETENTION = "2027-04-11T00:00:00+00:00"  # deleted 2027-01-10 + 90 days


def register(registry: TenantRegistry, trial_days: int | None = None) -> UUID:
    slug = f"t-{secrets.token_hex(5)}"
    result = registry.register(
        slug=slug, name=f"Tenant {slug}", actor="test", trial_days=trial_days
    )
    return result.tenant.id


def test_worker_process_expires_trials_and_grace_and_purges_old_deletions(
    registry: TenantRegistry, queue: Queue, env: dict[str, str], settings: Settings
) -> None:
    trial = register(registry)
    running = register(registry, trial_days=30)
    in_grace = register(registry)
    registry.run(Command.ACTIVATE, in_grace, actor="test")
    registry.run(Command.START_GRACE, in_grace, actor="test")
    deleted = register(registry)
    registry.run(Command.CANCEL, deleted, actor="test")
    registry.run(Command.DELETE, deleted, actor="test")

    jobs = [
        queue.enqueue(expire_trials, kwargs={"now": AFTER_TRIAL}),
        queue.enqueue(expire_grace, kwargs={"now": AFTER_TRIAL}),
        queue.enqueue(purge_deleted, kwargs={"now": AFTER_RETENTION}),
    ]
    result = run_cli("worker", "--burst", env=env)
    assert result.returncode == 0, result.stderr

    results = [job.latest_result() for job in jobs]
    assert [r.return_value if r else None for r in results] == [
        {"examined": 1, "changed": 1, "skipped": 0, "failed": 0},
        {"examined": 1, "changed": 1, "skipped": 0, "failed": 0},
        {"examined": 1, "changed": 1, "skipped": 0, "failed": 0},
    ]
    assert registry.get_tenant(trial).status is Status.GRACE
    assert registry.history(trial)[-1].actor == "sweep:trials"
    assert registry.get_tenant(running).status is Status.TRIAL
    assert registry.get_tenant(in_grace).status is Status.PAUSED
    assert registry.history(in_grace)[-1].actor == "sweep:grace"
    try:
        registry.history(deleted)
        purged = False
    except TenantGone:
        purged = True
    assert purged
    assert registry.feed(after=0, limit=100, types=["TenantPurged"])[0].actor == "sweep:purge"


def count_trial_expiries(settings: Settings) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE topic = %s").format(
        sql.Identifier(settings.db_schema, EVENTS_TABLE)
    )
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(query, ("tenant-registry:TenantTrialExpired",)).fetchone()
    return int(row[0]) if row else 0


def test_worker_killed_mid_sweep_leaves_the_rest_to_the_next_run_without_double_transitions(
    registry: TenantRegistry,
    settings: Settings,
    queue: Queue,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    ids = [register(registry) for _ in range(60)]
    catch_up(settings)
    queue.enqueue(expire_trials, kwargs={"now": AFTER_TRIAL})
    slow = {**env, "TENANT_REGISTRY_TEST_SWEEP_DELAY": "0.05", "TENANT_REGISTRY_SWEEP_THREADS": "2"}
    worker = start_cli("worker", env=slow, log=tmp_path / "worker.log")
    try:
        wait_until(lambda: count_trial_expiries(settings) >= 5, timeout=60)
    finally:
        stop_process(worker, signal.SIGKILL)
    done_before = count_trial_expiries(settings)
    assert done_before < len(ids)

    queue.enqueue(expire_trials, kwargs={"now": AFTER_TRIAL})  # the next run
    result = run_cli("worker", "--burst", env=env)
    assert result.returncode == 0, result.stderr

    for tenant_id in ids:
        types = [e.type for e in registry.history(tenant_id)]
        assert types == ["TenantRegistered", "TenantTrialExpired"], types
