"""Fixtures of the webhook tests: worker and dispatcher processes (the private Redis and
settings are the worker tests' own fixtures)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from tests.workers.conftest import private_redis, redis_client, wsettings
from tests.workers.helpers import cli_env, start_cli, stop_process

#: Short retry delays (seconds), so a failing receiver is retried within the test.
FAST_RETRIES = "[0.3, 0.3, 0.5, 0.5, 1, 1, 1, 1, 1, 1, 1, 1]"

Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start(wsettings: Settings, tmp_path: Path) -> Iterator[Start]:
    """``start("worker", private=True)``: a CLI process on the test's database and Redis,
    stopped at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str, private: bool = True, **extra: str) -> subprocess.Popen[bytes]:
        settings = {
            "TENANT_REGISTRY_WEBHOOKS_RETRY_DELAYS": FAST_RETRIES,
            "TENANT_REGISTRY_WEBHOOKS_ALLOW_PRIVATE": "true" if private else "false",
            **extra,
        }
        env = cli_env(wsettings.database_url, wsettings.redis_url, **settings)
        log = tmp_path / f"{args[0]}-{len(procs)}.log"
        proc = start_cli(*args, env=env, log=log)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        with contextlib.suppress(Exception):
            stop_process(proc, signal.SIGKILL)


__all__ = ["private_redis", "redis_client", "wsettings"]
