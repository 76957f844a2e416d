"""The schedule: one sweep per slot, however many schedulers fire it (private Redis)."""

from __future__ import annotations

import signal
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.cron import CronScheduler
from rq.job import Job
from rq.registry import FinishedJobRegistry

from common.settings import Settings
from tests.workers.helpers import run_cli, start_cli, stop_process, wait_until
from workers.jobs import SWEEP_RETRY_INTERVALS, enqueue_sweep
from workers.slots import sweep_job_id


def test_a_slot_is_enqueued_once_with_retries(queue: Queue, wsettings: Settings) -> None:
    slot = datetime(2027, 1, 16, 1, 30, tzinfo=UTC)
    assert enqueue_sweep(queue, "purge", slot) is True
    assert enqueue_sweep(queue, "purge", slot) is False
    assert enqueue_sweep(queue, "trials", slot) is True
    assert queue.count == 2
    job = Job.fetch(sweep_job_id("purge", slot), connection=queue.connection)
    assert job.func_name == "workers.jobs.purge_deleted"
    assert (job.retries_left, job.retry_intervals) == (3, SWEEP_RETRY_INTERVALS)
    assert job.args == () and job.kwargs == {}


def finished_jobs(queue: Queue, connection: Redis) -> list[Job]:
    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    return [Job.fetch(i, connection=connection) for i in ids]


def test_two_schedulers_enqueue_each_slot_once(
    queue: Queue, redis_client: Redis, env: dict[str, str], tmp_path: Path
) -> None:
    every_second = {**env, "TENANT_REGISTRY_SWEEP_TRIALS_CRON": "* * * * * *"}
    schedulers = [
        start_cli("scheduler", env=every_second, log=tmp_path / f"scheduler{i}.log")
        for i in range(2)
    ]
    try:
        wait_until(lambda: len(CronScheduler.all(redis_client)) == 2, timeout=30)
        seen = len(queue.job_ids)
        wait_until(lambda: len(queue.job_ids) >= seen + 6, timeout=30)  # a few slots, both
    finally:
        codes = [stop_process(s, signal.SIGTERM) for s in schedulers]
    assert codes == [0, 0], [(tmp_path / f"scheduler{i}.log").read_text() for i in range(2)]
    assert CronScheduler.all(redis_client) == []  # both deregistered on SIGTERM

    result = run_cli("worker", "--burst", env=env)
    assert result.returncode == 0, result.stderr

    jobs = finished_jobs(queue, redis_client)
    dispatches: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for job in jobs:
        if job.func_name == "workers.jobs.dispatch":
            outcome: dict[str, Any] = job.return_value() or {}
            dispatches[(outcome["sweep"], outcome["slot"])].append(outcome["enqueued"])
    assert {sweep for sweep, _ in dispatches} == {"trials", "grace", "purge"}
    assert all(outcomes.count(True) == 1 for outcomes in dispatches.values()), dispatches
    fired_twice = [slot for slot, outcomes in dispatches.items() if len(outcomes) == 2]
    assert len(fired_twice) >= 3, dispatches  # the schedulers really overlapped

    sweeps = sorted(job.id for job in jobs if job.id.startswith("sweep-"))
    expected = sorted(
        sweep_job_id(sweep, datetime.fromisoformat(slot))  # type: ignore[arg-type]
        for sweep, slot in dispatches
    )
    assert sweeps == expected
    assert not queue.failed_job_registry.get_job_ids()
