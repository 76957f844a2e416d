"""Run several long-lived processes as one: a combined log, restarts with backoff, clean stop.

Used by ``tenant-registry up``. Each child runs in a session of its own, so a Ctrl-C typed at
the terminal reaches only the supervisor, which then stops the children in order instead of
letting them all die at once mid-request. On Linux every child also asks the kernel to send it
SIGTERM when the supervisor dies (``PR_SET_PDEATHSIG``), so a supervisor killed with SIGKILL
leaves no orphan holding the port or the data folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import psutil

from cli.logview import LogSink

# Runs in the child before its real program: ask for SIGTERM when the parent dies, then exec.
# The parent check closes the race where the supervisor died before prctl took effect.
_LAUNCHER = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def launch_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped so that the child dies with its parent, where the OS allows it."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv]


@dataclass(frozen=True)
class ChildSpec:
    """One supervised program: its name in the log, its command line and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a child that exited: doubles per crash, resets after a stable run."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    stable_after: float = 10.0

    def delay(self, failures: int) -> float:
        """The wait before restart number ``failures`` (1 for the first crash in a row)."""
        return float(min(self.initial * self.factor ** max(failures - 1, 0), self.maximum))


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


@dataclass(frozen=True)
class Restart:
    """A restart the supervisor scheduled: which child, its exit code and the delay chosen."""

    name: str
    returncode: int
    delay: float


class Supervisor:
    """Starts children, restarts those that exit, stops them all on request."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        sink: LogSink,
        *,
        backoff: Backoff | None = None,
        stop_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._sink = sink
        self._backoff = backoff or Backoff()
        self._stop_timeout = stop_timeout
        self._now = clock
        self._stopping = False
        #: Every restart scheduled so far, oldest first (what the log shows, for inspection).
        self.restarts: list[Restart] = []
        for spec in specs:
            sink.register(spec.name)

    def start(self) -> None:
        """Start every child (call from the main thread: see ``PR_SET_PDEATHSIG``)."""
        for child in self._children:
            self._spawn(child)

    def pids(self) -> dict[str, int]:
        """The process id of each running child, by name."""
        return {
            c.spec.name: c.process.pid
            for c in self._children
            if c.process is not None and c.process.poll() is None
        }

    def tick(self) -> None:
        """Notice children that exited and restart those whose backoff has passed."""
        if self._stopping:
            return
        now = self._now()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    self._spawn(child)
            elif child.process is not None and child.process.poll() is not None:
                self._schedule_restart(child, now)

    def _schedule_restart(self, child: _Child, now: float) -> None:
        code = child.process.returncode if child.process is not None else -1
        self._join_reader(child)
        ran_for = now - child.started_at
        child.failures = 1 if ran_for >= self._backoff.stable_after else child.failures + 1
        delay = self._backoff.delay(child.failures)
        child.restart_at = now + delay
        self.restarts.append(Restart(child.spec.name, code, delay))
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        self._sink.line(
            "up",
            f"{child.spec.name} {how} after {ran_for:.1f} s; "
            f"restarting in {delay:.1f} s (attempt {child.failures})",
        )

    def _spawn(self, child: _Child) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **child.spec.env}
        process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            launch_argv(child.spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        child.process = process
        child.started_at = self._now()
        child.reader = threading.Thread(
            target=self._pump,
            args=(child.spec.name, process.stdout),
            name=f"log-{child.spec.name}",
            daemon=True,
        )
        child.reader.start()

    def _pump(self, name: str, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in stream:
                self._sink.child_line(name, raw)

    def stop(self, *, timeout: float | None = None) -> None:
        """SIGTERM every child, wait up to the timeout, then SIGKILL what is left."""
        self._stopping = True
        running = [(c, c.process) for c in self._children if c.process and c.process.poll() is None]
        # Noted before the SIGTERM, while they are still the child's: once it exits they are
        # nobody's (a job's work horse, which RQ puts in a process group of its own).
        noted = {process.pid: descendants(process.pid) for _, process in running}
        for _, process in running:
            _signal(process, signal.SIGTERM, group=False)
        deadline = self._now() + (self._stop_timeout if timeout is None else timeout)
        for child, process in running:
            try:
                process.wait(max(deadline - self._now(), 0.0))
            except subprocess.TimeoutExpired:
                self._sink.line("up", f"{child.spec.name} did not stop in time; killing it")
                noted[process.pid] += descendants(process.pid)
            # Kill the whole group: a job's work horse or a server's workers must not outlive it.
            _signal(process, signal.SIGKILL, group=True)
            kill_all(noted[process.pid])
            process.wait()
        for child in self._children:
            child.restart_at = None
            self._join_reader(child)

    def kill(self) -> None:
        """SIGKILL every child and its process group at once (a second Ctrl-C)."""
        self._stopping = True
        for child in self._children:
            if child.process is not None:
                children = descendants(child.process.pid)
                _signal(child.process, signal.SIGKILL, group=True)
                kill_all(children)

    @staticmethod
    def _join_reader(child: _Child) -> None:
        if child.reader is not None:
            child.reader.join(timeout=2.0)
            child.reader = None


def _signal(process: subprocess.Popen[bytes], signum: signal.Signals, *, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def descendants(pid: int) -> list[psutil.Process]:
    """The process's children and theirs, whatever their process group or session (RQ's
    work horse puts itself in a group of its own: a group kill misses it)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL each (psutil checks that a pid was not reused since it was noted)."""
    for each in processes:
        with contextlib.suppress(psutil.Error):
            each.kill()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopFlag:
    """A stop request that a signal handler may set.

    Not a ``threading.Event``: its ``set()`` takes a lock that the interrupted main thread may
    hold inside ``wait()``, and the handler would then wait for itself forever.
    """

    def __init__(self) -> None:
        self._set = False
        self.reason = ""

    def set(self, reason: str = "") -> None:
        self.reason = self.reason or reason
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early once set; return whether it is set."""
        deadline = time.monotonic() + timeout
        while not self._set and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        return self._set
