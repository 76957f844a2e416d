"""Whether PostgreSQL answers, asked on one small connection of its own (the API's gate)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from common.settings import Settings

log = logging.getLogger(__name__)

PROBE_CONNECT_TIMEOUT_SECONDS = 2


class DatabaseProbe:
    """One connection kept for pings; reopened after a failure. Not thread-safe: the caller
    serialises (the gate holds its lock)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._conn: psycopg.Connection[Any] | None = None

    def ping(self) -> bool:
        """True when the database answers a trivial query now."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self._settings.database_url,
                    autocommit=True,
                    connect_timeout=PROBE_CONNECT_TIMEOUT_SECONDS,
                )
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self.close()
            return False
        return True

    def close(self) -> None:
        """Close the probe connection (best effort)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing the probe connection failed", exc_info=True)
            self._conn = None
