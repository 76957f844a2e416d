"""The registry's real processes for one resilience test, each with its output captured.

``Stack`` starts ``tenant-registry`` subprocesses (``serve``, ``project``, ``worker``,
``scheduler``) and runs one-shot commands (``migrate``, ``api-keys create``, ``sweep``) against
one database and one Redis. Every process writes stdout and stderr to a log file of its own, so
a test can look for tracebacks or personal data in everything the processes said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.private_pg import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("tenant-registry"))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; return the seconds it took, fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.05)
    return time.monotonic() - started


@dataclass
class Process:
    """One long-running ``tenant-registry`` subprocess."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None


class Stack:
    """Starts the registry's processes on one database and Redis; stops them all at the end."""

    def __init__(self, logs: Path, database_url: str, redis_url: str, **env: str) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TENANT_REGISTRY_", "FAKETIME", "DATABASE_URL", "REDIS_URL"))
        }
        self.base_env.update(
            {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
        )
        self.base_env.update(env)
        self.processes: list[Process] = []
        self._runs = 0

    def _command(self, args: tuple[str, ...], faketime: str | None) -> list[str]:
        return [*(["faketime", faketime] if faketime else []), CLI, *args]

    def run(
        self, *args: str, faketime: str | None = None, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``tenant-registry ARGS`` to completion; its output is kept with the logs."""
        self._runs += 1
        result = subprocess.run(
            self._command(args, faketime),
            env={**self.base_env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
        log = self.logs / f"run-{self._runs}-{args[0]}.log"
        log.write_text(f"$ {' '.join(args)}\n{result.stdout}\n--- stderr\n{result.stderr}")
        return result

    def start(self, name: str, *args: str, faketime: str | None = None, **env: str) -> Process:
        """Start ``tenant-registry ARGS`` in a session of its own (its children die with it)."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                self._command(args, faketime),
                env={**self.base_env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def serve(self, name: str = "api", **env: str) -> Process:
        """Start ``serve`` on a free port and wait until it answers ``/healthz``."""
        port = free_port()
        process = self.start(name, "serve", "--port", str(port), **env)
        process.port = port

        def healthy() -> bool:
            if not process.alive():
                msg = f"{name} exited: {process.log.read_text(errors='replace')}"
                raise AssertionError(msg)
            try:
                return httpx.get(f"{process.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 30, f"{name} to answer /healthz")
        return process

    def migrate(self) -> None:
        result = self.run("migrate")
        assert result.returncode == 0, result.stderr

    def create_key(self, name: str, scopes: str = "admin") -> str:
        """A new API key's secret (the last line of ``api-keys create``)."""
        result = self.run("api-keys", "create", "--name", name, "--scopes", scopes)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def stop(self, process: Process, sig: int = signal.SIGTERM) -> int:
        """Signal the process's whole session and wait; SIGKILL if it does not stop."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, sig)
        try:
            return process.popen.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            return process.popen.wait(10)

    def stop_all(self) -> dict[str, int]:
        """Stop every process still running; their exit codes by name."""
        return {p.name: self.stop(p) for p in self.processes if p.alive()}

    def outputs(self) -> dict[str, bytes]:
        """Everything every process (and every one-shot command) wrote, by log file name."""
        return {log.name: log.read_bytes() for log in sorted(self.logs.glob("*.log"))}
