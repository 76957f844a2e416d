"""A real registry for the client tests: ``tenant-registry serve`` and ``project`` processes.

The API can be restarted (gracefully or with SIGKILL) on the same port, which is how the
directory tests cut its stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.settings import Settings
from tests.support.private_pg import free_port

#: The console script (``python -m cli.main`` would load ``cli.main`` twice).
CLI = str(Path(sys.executable).with_name("tenant-registry"))
STARTUP_SECONDS = 30.0


class RunningRegistry:
    """An API process and a projector process on ``settings``' database."""

    def __init__(self, settings: Settings, logs: Path, **env: str) -> None:
        self.settings = settings
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "TENANT_REGISTRY_DB_SCHEMA": settings.db_schema,
            **env,
        }
        self.api: subprocess.Popen[bytes] | None = None
        self.projector: subprocess.Popen[bytes] | None = None
        self._started = 0

    def __enter__(self) -> RunningRegistry:
        self.start_projector()
        self.start_api()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self._started += 1
        with (self.logs / f"{args[0]}-{self._started}.log").open("wb") as log:
            return subprocess.Popen([CLI, *args], env=self._env, stdout=log, stderr=log)

    def start_projector(self) -> None:
        self.projector = self._spawn("project")

    def start_api(self) -> None:
        """Start ``serve`` and wait until it answers."""
        self.api = self._spawn("serve", "--port", str(self.port))
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.api.poll() is not None or time.monotonic() > deadline:
                msg = f"serve did not come up; see {self.logs}"
                raise RuntimeError(msg)
            time.sleep(0.1)

    def stop_api(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the API (SIGTERM: a clean shutdown; SIGKILL: connections cut)."""
        if self.api is not None and self.api.poll() is None:
            self.api.send_signal(sig)
            try:
                self.api.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait(timeout=10)
        self.api = None

    def close(self) -> None:
        self.stop_api()
        if self.projector is not None and self.projector.poll() is None:
            self.projector.send_signal(signal.SIGTERM)
            try:
                self.projector.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.projector.kill()
                self.projector.wait(timeout=10)
