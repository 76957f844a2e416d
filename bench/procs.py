"""Child processes of the benchmark: the registry's own commands, their memory, their ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from common.settings import Settings

#: Runs the ``tenant-registry`` CLI with this interpreter (works without the console script).
RUN_CLI = "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))"
REPO = Path(__file__).resolve().parent.parent


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a registry child process pointed at the scratch database."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "TENANT_REGISTRY_QUEUE_NAME": settings.queue_name,
            "TENANT_REGISTRY_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """``tenant-registry ARGS`` as a command line for this interpreter."""
    return [sys.executable, "-c", RUN_CLI, *args]


def run_cli(settings: Settings, *args: str, timeout: float = 600) -> str:
    """Run a short CLI command; return its standard output (raise on failure)."""
    done = subprocess.run(
        cli_command(*args),
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        msg = f"tenant-registry {' '.join(args)} failed: {done.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    return done.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_cpu_seconds() -> float:
    """User + system CPU time so far of every local ``postgres`` process (backends, WAL writer,
    checkpointer): what the server spent, for a run on the same host. Backends that exit in
    between take theirs with them (the API's and the projector's connections are pooled)."""
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            times = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


class Child:
    """A long-running child process, its log file, and its memory (with its own children)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.process = psutil.Process(self.popen.pid)

    def rss(self) -> int:
        """Resident memory of the process and its descendants, in bytes."""
        total = 0
        try:
            procs = [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its live descendants so far."""
        total = 0.0
        try:
            procs = [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()

    def tail(self, lines: int = 20) -> str:
        """The end of the child's log (for error messages)."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class RssSampler:
    """Samples a child's RSS on a thread; keeps (seconds since start, bytes) pairs."""

    def __init__(self, child: Child, interval: float = 0.25) -> None:
        self.child = child
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{child.name}", daemon=True)

    def __enter__(self) -> RssSampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, self.child.rss()))
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return max((b for _, b in self.samples), default=0) / 2**20

    def growth_mib(self) -> float:
        """RSS at the end minus RSS once the first tenth of the run is over (flat ≈ 0)."""
        if len(self.samples) < 4:
            return 0.0
        end = self.samples[-1][0]
        settled = next(b for t, b in self.samples if t >= end / 10)
        return (self.samples[-1][1] - settled) / 2**20


def wait_http(url: str, timeout: float, *, want: int = 200) -> float:
    """Poll ``url`` until it answers ``want``; return the seconds it took (raise on timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == want:
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    msg = f"{url} did not answer {want} within {timeout:.0f}s"
    raise TimeoutError(msg)


@dataclass(frozen=True)
class Finished:
    """A CLI command run to its end: how long it took, what it logged, its memory."""

    seconds: float
    log: str
    memory: RssSampler

    def json_line(self, prefix: str) -> dict[str, Any]:
        """The first logged line that starts with ``prefix``, as JSON (the command's summary)."""
        found = next((x for x in self.log.splitlines() if x.startswith(prefix)), None)
        if found is None:
            msg = f"no line starting {prefix!r} in the log:\n{self.log[-2000:]}"
            raise RuntimeError(msg)
        document: dict[str, Any] = json.loads(found)
        return document


def run_to_end(name: str, argv: list[str], settings: Settings, workdir: Path) -> Finished:
    """Run ``tenant-registry …`` as a child until it exits, timing it from its start and
    sampling its RSS; raise with its log's tail if it fails."""
    child = Child(name, argv, cli_env(settings), workdir)
    t0 = time.monotonic()
    with RssSampler(child) as memory:
        code = child.popen.wait()
    seconds = time.monotonic() - t0
    child.stop()
    if code != 0:
        msg = f"{name} failed ({code}):\n{child.tail()}"
        raise RuntimeError(msg)
    return Finished(seconds, child.log_path.read_text(errors="replace"), memory)
