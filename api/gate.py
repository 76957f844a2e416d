"""Fail fast while PostgreSQL is down, and notice quickly when it is back.

The library pools wait for a connection (and the store retries reads) for many seconds before
giving up, which would hold every request for that long during an outage. The gate probes the
database with one small connection of its own at most once a second: while the database is
unreachable, requests get a 503 at once; when it answers again, the API rebuilds its pools
(their reconnection back-off could otherwise keep them away for half a minute).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from application.health import DatabaseProbe
from common.settings import Settings

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 1.0


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now."""


class DatabaseGate:
    """Tracks whether PostgreSQL answers; see the module docstring."""

    def __init__(self, settings: Settings, on_recovery: Callable[[], None]) -> None:
        self._probe = DatabaseProbe(settings)
        self._on_recovery = on_recovery
        self._up = True
        self._checked_at = -PROBE_INTERVAL_SECONDS
        self._lock = threading.Lock()

    @property
    def is_up(self) -> bool:
        """The last known state."""
        return self._up

    def check(self) -> None:
        """Raise :class:`DatabaseUnavailable` when the database is known (or found) to be down."""
        # One thread probes; the others go on with the last known state.
        if self.probe_due() and self._lock.acquire(blocking=False):
            try:
                self._probe_locked()
            finally:
                self._lock.release()
        self.raise_if_down()

    def probe_due(self) -> bool:
        """Whether the next :meth:`check` would talk to the database."""
        return time.monotonic() - self._checked_at >= PROBE_INTERVAL_SECONDS

    def raise_if_down(self) -> None:
        """Raise :class:`DatabaseUnavailable` if the last probe failed (no I/O)."""
        if not self._up:
            msg = "database unavailable"
            raise DatabaseUnavailable(msg)

    def probe(self) -> bool:
        """Ask the database now (readiness checks); True when it answers."""
        with self._lock:
            self._probe_locked()
        return self._up

    def trip(self) -> None:
        """A request just failed to reach the database: probe on the next check.

        Not a verdict by itself: a lock timeout is an "operational" error too, and must not
        close the gate while the database is fine. While the gate is already down, the
        regular once-a-second probe is enough.
        """
        if self._up:
            self._checked_at = -PROBE_INTERVAL_SECONDS

    def close(self) -> None:
        """Close the probe connection."""
        with self._lock:
            self._close_conn()

    def _probe_locked(self) -> None:
        was_up = self._up
        self._up = self._ping()
        self._checked_at = time.monotonic()
        if was_up and not self._up:
            log.warning("database unreachable; answering 503 until it returns")
        elif not was_up and self._up:
            log.info("database reachable again; rebuilding connection pools")
            self._on_recovery()

    def _ping(self) -> bool:
        return self._probe.ping()

    def _close_conn(self) -> None:
        self._probe.close()
