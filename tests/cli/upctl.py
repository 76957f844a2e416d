"""Drive ``tenant-registry up`` in a subprocess: read its log, find its processes, stop it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import psutil

TENANT_REGISTRY = str(Path(sys.executable).parent / "tenant-registry")
#: Generous: the suite runs on two shared cores; the ≤ 10 s target is measured in bench/.
START_TIMEOUT = 90.0
KEY_LINE = re.compile(r"\|\s+admin API key\s+(\S+)$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class UpProcess:
    """One ``tenant-registry up`` run."""

    def __init__(self, data_dir: Path, env: Mapping[str, str], port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        #: Leave the embedded PostgreSQL running on close (a test of what the next run finds).
        self.leave_postgres = False
        self._changed = threading.Condition()
        argv = [TENANT_REGISTRY, "up", "--data-dir", str(data_dir), "--port", str(self.port)]
        self._stderr = (data_dir.parent / f"up-{self.port}.stderr").open("wb")
        self.process = subprocess.Popen(
            argv,
            env={**env, "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = START_TIMEOUT) -> str:
        """The first match of ``pattern`` in the log (its first group if it has one)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return match.group(1) if pattern.groups else match.group(0)
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    msg = f"no line matching {pattern.pattern!r}:\n{self.log}"
                    raise AssertionError(msg)
                self._changed.wait(min(left, 0.5))

    def wait_ready(self) -> str:
        """Wait for the banner; return the printed admin key."""
        key = self.wait_for_line(KEY_LINE)
        response = httpx.get(f"{self.base_url}/readyz", timeout=5)
        assert response.status_code == 200, response.text
        return key

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def commands(self) -> list[list[str]]:
        """The command line of every process below ``up``."""
        found = []
        for child in self.descendants():
            try:
                found.append(child.cmdline())
            except psutil.NoSuchProcess:
                continue
        return found

    def postmaster_pid(self) -> int | None:
        pidfile = self.data_dir / "postgres" / "postmaster.pid"
        if not pidfile.exists():
            return None
        return int(pidfile.read_text().splitlines()[0])

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM ``up`` and wait for it; return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        """Make sure nothing of this run is left (after a failed test too)."""
        leftovers = self.descendants() if self.process.poll() is None else []
        postmaster = self.postmaster_pid()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for proc in leftovers:
            _kill_quietly(proc.pid)
        if postmaster is not None and not gone(postmaster) and not self.leave_postgres:
            os.kill(postmaster, signal.SIGQUIT)
        self._reader.join(5)
        self._stderr.close()

    def __enter__(self) -> UpProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_all_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` for every pid to exit; return those still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(gone(pid) for pid in pids):
            return []
        time.sleep(0.1)
    return [pid for pid in pids if not gone(pid)]
