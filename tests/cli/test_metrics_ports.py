"""``--metrics-port`` of the background processes (SPEC §11): the projector's lag and batch
sizes; the worker's sweep outcomes, although each job runs in a forked child."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue

from application.registry import TenantRegistry
from common.settings import Settings
from tests.cli.upctl import TENANT_REGISTRY, free_port
from workers.jobs import expire_trials

DEADLINE_SECONDS = 90.0
Start = Callable[..., str]


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _eventually(probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            if probe():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture
def queue_name() -> str:
    """A queue of this test's own on the shared Redis."""
    return f"metrics-{secrets.token_hex(4)}"


@pytest.fixture
def start(settings: Settings, tmp_path: Path, queue_name: str) -> Iterator[Start]:
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TENANT_REGISTRY_QUEUE_NAME": queue_name,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def run(*args: str) -> str:
        port = free_port()
        log = (tmp_path / f"{args[0]}.log").open("wb")
        logs.append(log)
        argv = [TENANT_REGISTRY, *args, "--metrics-port", str(port)]
        processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        return f"http://127.0.0.1:{port}/metrics"

    yield run
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for log in logs:
        log.close()


def test_projector_reports_its_batches_and_lag(settings: Settings, start: Start) -> None:
    registry = TenantRegistry(settings)
    try:
        registry.register(slug="metered", name="Metered", actor="test")
    finally:
        registry.close()
    url = start("project")
    batches = ("tenant_registry_projection_batch_events_count", (("projection", "tenants"),))
    lag = ("tenant_registry_projection_lag_events", (("projection", "tenants"),))
    _eventually(lambda: _samples(url).get(batches, 0) >= 1, "a projected batch")
    _eventually(lambda: _samples(url).get(lag) == 0, "the projection to catch up")
    assert ("process_resident_memory_bytes", ()) in _samples(url)


def test_worker_reports_sweeps_run_in_its_forked_children(
    settings: Settings, start: Start, queue_name: str
) -> None:
    url = start("worker")
    _eventually(lambda: httpx.get(url, timeout=5).status_code == 200, "the worker's metrics")
    with Redis.from_url(settings.redis_url) as redis:
        queue = Queue(queue_name, connection=redis)
        job = queue.enqueue(expire_trials)
        try:
            _eventually(lambda: job.get_status(refresh=True) == "finished", "the sweep job")
        finally:
            queue.delete(delete_jobs=True)
    runs = ("tenant_registry_sweep_duration_seconds_count", (("result", "ok"), ("sweep", "trials")))
    _eventually(lambda: _samples(url).get(runs) == 1, "the sweep's duration")
    samples = _samples(url)
    assert any(name == "tenant_registry_sweep_tenants_total" for name, _ in samples)
