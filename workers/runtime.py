"""The pieces a sweep needs (registry, read model), built after the fork, once per process.

psycopg pools hold sockets and threads, neither of which survives ``fork()``. RQ's default
``Worker`` forks a work horse per job, so nothing here is built at import time or in the
worker's main process: the first job in a process builds the pieces, later jobs in the same
process (``SimpleWorker``, the ``sweep`` command) reuse them, and a forked child notices the pid
changed and builds its own instead of touching its parent's sockets.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from application.registry import TenantRegistry
from common.clock import Clock
from common.settings import Settings
from projections.queries import ReadModel
from projections.runner import catch_up

log = logging.getLogger("tenant_registry.workers")


@dataclass(frozen=True)
class SweepRuntime:
    """A registry (the write side) and a read model, sharing one clock."""

    registry: TenantRegistry
    read_model: ReadModel

    def close(self) -> None:
        self.read_model.close()
        self.registry.close()


_lock = threading.Lock()
_cached: tuple[int, Settings, SweepRuntime] | None = None


def build_runtime(settings: Settings, clock: Clock | None = None) -> SweepRuntime:
    """A fresh runtime (the caller closes it)."""
    registry = TenantRegistry(settings, clock)
    try:
        read_model = ReadModel(settings, registry.clock)
    except BaseException:
        registry.close()
        raise
    return SweepRuntime(registry, read_model)


def process_runtime(settings: Settings) -> SweepRuntime:
    """The runtime of this process on the system clock, built on first use after a fork."""
    global _cached  # noqa: PLW0603 - one runtime per process, by design
    with _lock:
        if _cached is not None:
            pid, cached_settings, runtime = _cached
            if pid == os.getpid() and cached_settings == settings:
                return runtime
            if pid == os.getpid():
                runtime.close()
            # else: the parent's pools belong to the parent; leave them alone.
        runtime = build_runtime(settings)
        _cached = (os.getpid(), settings, runtime)
        return runtime


@contextlib.contextmanager
def runtime_for(settings: Settings, clock: Clock | None) -> Iterator[SweepRuntime]:
    """The process runtime, or a throwaway one on a given clock (a job with a fixed ``now``)."""
    if clock is None:
        yield process_runtime(settings)
        return
    runtime = build_runtime(settings, clock)
    try:
        yield runtime
    finally:
        runtime.close()


def refresh_read_side(settings: Settings) -> None:
    """Bring the read table up to the event store's head before a sweep reads it.

    Safe beside a running projector (a batch locks the projection's tracking row, so the two
    take turns). If the projection is stuck on an error the sweep still runs, on the table as
    it is: candidates may be missing, never wrong, since each one is re-checked on its events.
    """
    try:
        catch_up(settings)
    except Exception as exc:
        log.warning(
            "read table could not catch up; sweeping it as it is",
            extra={"error": type(exc).__name__},
        )
