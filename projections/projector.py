"""The long-running projector: follows new events, one active process per projection.

* Only one projector is active: it holds a session-level advisory lock on a dedicated
  connection. Others wait as hot standbys (state ``standby``) and take over when the lock's
  session ends (the process died, or its database connection did).
* New events wake it through LISTEN on the event store's channel; a wait times out every
  :attr:`Projector.heartbeat_seconds` anyway, which doubles as a fallback poll.
* Under steady load it drains at most once per :attr:`Projector.coalesce_seconds`: a commit
  that arrives sooner after the last drain waits out the rest of that interval, so one batch
  (one transaction, one flush) covers every commit of the interval instead of one each. An
  isolated commit is projected at once. Under heavy load (the last drain projected at least
  :attr:`Projector.busy_events` events) the interval is :attr:`Projector.busy_coalesce_seconds`.
* Losing the database is not fatal: it logs, backs off and reconnects by itself.
* An event that cannot be projected stops progress (recorded and logged by
  :func:`projections.runner.drain`); it is retried with a long backoff, never skipped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from common.db import connect
from common.metrics import PROJECTION_BATCH_EVENTS, PROJECTION_POSITION
from common.settings import Settings
from common.tables import EVENTS_CHANNEL
from projections.batch import DEFAULT_BATCH_SIZE, BatchProjector, BatchResult, Target
from projections.fold import ProjectionError
from projections.rebuild import drop_abandoned
from projections.runner import drain
from projections.schema import TENANTS, create_stage
from projections.status import Heartbeat

log = logging.getLogger(__name__)

#: Advisory lock key of the ``tenants`` projector (any fixed number unique to this purpose).
PROJECTOR_LOCK_KEY = 7_215_300_501


class Projector:
    """Follows the event store and keeps the ``tenants`` read table current."""

    heartbeat_seconds = 2.0
    standby_poll_seconds = 0.5
    max_reconnect_delay = 10.0
    max_error_delay = 60.0
    #: Shortest interval between two drains (see the module's docstring). Measured under
    #: ``commands.lua`` over HTTP (16 connections, 2 workers, ~850 commands/s): projector
    #: CPU 1.8 s -> 1.0 s and its share of PostgreSQL 4.2 s -> 3.3 s per 8 s of load, for at
    #: most 10 ms more from commit to read table, and only under load.
    coalesce_seconds = 0.01
    #: After a drain of at least this many events (800 events/s at the short interval) the
    #: next interval is the longer one: fewer, larger batches, in which more of a tenant's
    #: changes fold into one row update. Measured under ``commands.lua`` over HTTP (16
    #: connections, 2 workers, three alternating rounds of 12 s against 10 ms throughout):
    #: projector CPU 0.14 -> 0.07 ms and its PostgreSQL backend 0.15 -> 0.09 ms per command,
    #: for at most 15 ms more from commit to read table under that load.
    busy_events = 8
    busy_coalesce_seconds = 0.025

    def __init__(self, settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.settings = settings
        self.instance = f"projector-{uuid.uuid4().hex[:12]}"
        self.batch = BatchProjector(settings, Target(), batch_size)
        self.heartbeat = Heartbeat(settings, self.instance, TENANTS)
        self.position = 0
        self._last_beat = 0.0
        self._drained_events = 0  # tenant events projected by the current drain

    def run(self, stop: threading.Event) -> None:
        """Project until ``stop`` is set, surviving database restarts and bad events."""
        delay = 0.5
        error_delay = 5.0
        while not stop.is_set():
            try:
                self._session(stop)
                delay = 0.5
            except ProjectionError as exc:
                log.error(  # noqa: TRY400 - drain() logged the details already
                    "projection stuck; retrying",
                    extra={"position": exc.position, "retry_in": error_delay},
                )
                stop.wait(error_delay)
                error_delay = min(error_delay * 2, self.max_error_delay)
            except psycopg.Error as exc:
                log.warning(
                    "database unavailable; reconnecting",
                    extra={"error": _first_line(exc), "retry_in": delay},
                )
                stop.wait(delay)
                delay = min(delay * 2, self.max_reconnect_delay)

    def _session(self, stop: threading.Event) -> None:
        """One database session: wait for the lock, then follow events until stopped."""
        with connect(self.settings) as control, connect(self.settings) as work:
            if not self._acquire(control, work, stop):
                return
            log.info("projector active", extra={"instance": self.instance})
            create_stage(work)  # once for the session, outside any batch's transaction
            control.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            try:
                with connect(self.settings) as ahead:
                    self._follow(control, work, ahead, stop)
            finally:
                if stop.is_set() and not work.closed:
                    self.heartbeat.leave(work)

    def _acquire(
        self, control: psycopg.Connection[Any], work: psycopg.Connection[Any], stop: threading.Event
    ) -> bool:
        announced = False
        while not stop.is_set():
            row = control.execute(
                "SELECT pg_try_advisory_lock(%s) AS locked", (PROJECTOR_LOCK_KEY,)
            ).fetchone()
            if row is not None and row["locked"]:
                return True
            if not announced:
                log.info("another projector is active; waiting as standby")
                announced = True
            self._beat(work, "standby", self.batch.position(work))
            stop.wait(self.standby_poll_seconds)
        self.heartbeat.leave(work)
        return False

    def _follow(
        self,
        control: psycopg.Connection[Any],
        work: psycopg.Connection[Any],
        ahead: psycopg.Connection[Any],
        stop: threading.Event,
    ) -> None:
        drop_abandoned(work, self.settings)
        self.position = self.batch.position(work)
        self._beat(work, "running", self.position, force=True)
        while not stop.is_set():
            self._drained_events = 0
            drain(work, self.batch, on_batch=lambda r: self._progress(work, r), ahead_conn=ahead)
            drained_at = time.monotonic()
            busy = self._drained_events >= self.busy_events
            interval = self.busy_coalesce_seconds if busy else self.coalesce_seconds
            self._beat(work, "running", self.position)
            # Wake on the first notification (or time out: heartbeat and fallback poll), wait
            # out the rest of the coalescing interval, then swallow the backlog: one drain
            # covers every commit announced so far.
            for _ in control.notifies(timeout=self.heartbeat_seconds, stop_after=1):
                pass
            rest = interval - (time.monotonic() - drained_at)
            if rest > 0:
                stop.wait(rest)
            for _ in control.notifies(timeout=0):
                pass

    def _progress(self, work: psycopg.Connection[Any], result: BatchResult) -> None:
        self.position = result.position
        self._drained_events += result.events
        if result.events:
            PROJECTION_BATCH_EVENTS.labels(TENANTS).observe(result.events)
        PROJECTION_POSITION.labels(TENANTS).set(result.position)
        self._beat(work, "running", self.position)  # a long catch-up still reports in

    def _beat(
        self, work: psycopg.Connection[Any], state: str, position: int, *, force: bool = False
    ) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= self.heartbeat_seconds / 2:
            self.heartbeat.beat(work, state, position)
            self._last_beat = now


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
