"""The one source of time for business decisions.

Business rules never read the database's ``now()``: they ask a :class:`Clock`. Production uses
:class:`SystemClock` (which ``faketime`` shifts like any process clock); tests inject a
:class:`FrozenClock` and move it by hand.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current UTC instant."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The process's wall clock."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            msg = "FrozenClock needs a timezone-aware start"
            raise ValueError(msg)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the instant the clock is set to."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (or back, with a negative delta)."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        """Put the clock at ``instant``."""
        with self._lock:
            self._now = instant.astimezone(UTC)
