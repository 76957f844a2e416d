"""The pieces a sweep needs (registry, read model), built inside the job, after the fork.

psycopg pools hold sockets and threads, neither of which survives ``fork()``. RQ's default
``Worker`` forks a work horse per job, so nothing here is built at import time or in the
worker's main process: each sweep builds its pieces where it runs and closes them when it
ends. (Caching them per process would buy nothing: every work horse is a fresh fork, and it
exits with ``os._exit``, which would drop the connections without a goodbye.)
"""

from __future__ import annotations

import contextlib
import logging
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


def build_runtime(settings: Settings, clock: Clock | None = None) -> SweepRuntime:
    """A fresh runtime (the caller closes it)."""
    registry = TenantRegistry(settings, clock)
    try:
        read_model = ReadModel(settings, registry.clock)
    except BaseException:
        registry.close()
        raise
    return SweepRuntime(registry, read_model)


@contextlib.contextmanager
def runtime_for(settings: Settings, clock: Clock | None = None) -> Iterator[SweepRuntime]:
    """A runtime for one sweep, closed when it ends (a few ms beside any real sweep)."""
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
