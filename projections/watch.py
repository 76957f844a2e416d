"""Waiting for the read table to reach a position, woken by the projector's NOTIFY.

One listener thread per :class:`~projections.queries.ReadModel` holds a LISTEN connection and
wakes every waiter at once, so many concurrent ``min_position`` reads cost one connection.
The tracking row is the truth: a notification that does not already show the position wakes
waiters to read it again. Waiters also re-read it now and then, so a lost notification (a
reconnect in between) costs at most :data:`RECHECK_SECONDS`, never the whole timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from common.db import connect
from common.settings import Settings
from projections.batch import projected_channel

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0


class PositionWatcher:
    """Tracks the highest projected position announced on the projection's channel."""

    def __init__(self, settings: Settings, read_position: Callable[[], int]) -> None:
        self._settings = settings
        self._read_position = read_position
        self._heard = 0  # notifications received so far
        self._announced = 0  # the position in the latest one
        self._cond = threading.Condition()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def wait_for(self, position: int, timeout: float) -> bool:
        """True once the projection reached ``position``; False after ``timeout`` seconds."""
        if self._read_position() >= position:
            return True  # the common case: no listener needed
        deadline = time.monotonic() + timeout
        self._ensure_started(deadline)
        while True:
            with self._cond:
                heard = self._heard
            # Read after LISTEN is in place: a commit after this read is announced to us.
            if self._read_position() >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait_for(
                    lambda heard=heard: self._heard != heard,  # type: ignore[misc]
                    min(remaining, RECHECK_SECONDS),
                )
                if self._heard != heard and self._announced >= position:
                    return True

    def close(self) -> None:
        """Stop the listener thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _announce(self, position: int) -> None:
        with self._cond:
            self._heard += 1
            self._announced = position
            self._cond.notify_all()

    def _ensure_started(self, deadline: float) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._listening.clear()
                self._thread = threading.Thread(
                    target=self._listen_forever, name="projection-watcher", daemon=True
                )
                self._thread.start()
        self._listening.wait(max(0.0, min(deadline - time.monotonic(), 5.0)))

    def _listen_forever(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                with connect(self._settings) as conn:
                    self._listen(conn)
                    delay = 0.1
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("position watcher lost its connection", extra={"error": str(exc)})
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        channel = projected_channel(self._settings)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._listening.set()
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=1.0):
                if notify.payload.isdigit():
                    self._announce(int(notify.payload))
