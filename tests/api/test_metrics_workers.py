"""``/metrics`` with ``serve --workers 2`` (SPEC §11, issue 16 acceptance 2): one scrape counts
the requests every worker answered."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings
from tests.cli.upctl import TENANT_REGISTRY, free_port

DEADLINE_SECONDS = 90
REQUESTS = 100


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("wb")
    argv = [TENANT_REGISTRY, "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _answers(f"{url}/healthz"):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not answer /healthz"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_one_scrape_counts_the_requests_of_every_worker(two_workers: str) -> None:
    # A new connection per request (``Connection: close``), so both workers get some.
    with httpx.Client(base_url=two_workers, headers={"Connection": "close"}, timeout=10) as http:
        for _ in range(REQUESTS):
            assert http.get("/v1/tenants").status_code == 401
        text = http.get("/metrics").text
    counted = 0.0
    pids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "tenant_registry_http_request_duration_seconds_count"
                and labels.get("route") == "/v1/tenants"
                and labels.get("status") == "401"
            ):
                counted += sample.value
            if sample.name == "tenant_registry_worker_process_resident_memory_bytes":
                pids.add(labels["pid"])
    assert counted == REQUESTS
    assert pids  # process metrics, one series per worker that has served
