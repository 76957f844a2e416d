"""A worker and a scheduler ride out a Redis outage and resume when it returns."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FinishedJobRegistry

from common.settings import Settings
from tests.workers.helpers import PrivateRedis, cli_env, start_cli, stop_process, wait_until


@pytest.fixture
def outage_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test's own, to stop and start again on the same port."""
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


def finished_sweeps(server: PrivateRedis, queue_name: str) -> int:
    try:
        with Redis.from_url(server.url, socket_connect_timeout=1) as client:
            ids = FinishedJobRegistry(queue=Queue(queue_name, connection=client)).get_job_ids()
    except OSError:
        return 0
    return sum(1 for i in ids if i.startswith("sweep-trials-"))


@pytest.mark.resilience
def test_worker_and_scheduler_resume_after_redis_comes_back(
    settings: Settings, outage_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = cli_env(
        settings.database_url,
        outage_redis.url,
        TENANT_REGISTRY_SWEEP_TRIALS_CRON="*/2 * * * * *",
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "scheduler")}
    procs = {name: start_cli(name, env=env, log=log) for name, log in logs.items()}
    try:
        wait_until(lambda: finished_sweeps(outage_redis, settings.queue_name) >= 1, timeout=60)
        outage_redis.stop()
        wait_until(
            lambda: (
                all("Redis" in log.read_text().split("retrying")[0] for log in logs.values())
                and all("retrying" in log.read_text() for log in logs.values())
            ),
            timeout=30,
        )
        assert all(p.poll() is None for p in procs.values())
        outage_redis.start()  # empty: whatever was queued is gone, the schedule is not
        wait_until(lambda: finished_sweeps(outage_redis, settings.queue_name) >= 1, timeout=60)
    finally:
        codes = {name: stop_process(p, signal.SIGTERM) for name, p in procs.items()}
    texts = {name: log.read_text() for name, log in logs.items()}
    assert codes == {"worker": 0, "scheduler": 0}, texts
    assert "Redis unreachable, retrying" in texts["scheduler"]
    for name, text in texts.items():
        assert "Traceback" not in text, (name, text)
