"""Projector heartbeats and the projection status derived from them (SPEC §3 ``/v1/projections``).

Operational times (heartbeats, lag) use the database's clock, so processes on hosts whose
clocks disagree (or run under ``faketime``) still agree on who is alive.

``lag_seconds``: time since the oldest unprojected event was committed. The store keeps no
commit time, so it is estimated as the smaller of (a) now - the tracking row's last update
(an upper bound: that event arrived after the last batch that missed it) and (b) now - the
first unprojected event's own ``timestamp`` (the writer's clock, close to its commit; ignored
when it lies in the future, as under ``faketime``). 0 when nothing lags.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from common.settings import Settings
from common.tables import EVENTS_TABLE
from common.transcoder import OrjsonTranscoder
from projections.models import ProjectionStatus
from projections.schema import STATUS, TENANTS, TRACKING

#: A projector that has not reported for this long is considered gone.
STALE_AFTER_SECONDS = 10
#: Rows of processes gone for this long are removed by the next heartbeat.
FORGET_AFTER_SECONDS = 3600

_STATE_ORDER = ("rebuilding", "running", "standby")


class Heartbeat:
    """Writes one process's status row (state, position, last error)."""

    def __init__(self, settings: Settings, instance: str, name: str = TENANTS) -> None:
        self.instance = instance
        self.name = name
        table = sql.Identifier(settings.db_schema, STATUS)
        self._sql_beat = sql.SQL(
            "INSERT INTO {} (instance, name, state, position, pid, host, last_seen, last_error)"
            " VALUES (%s, %s, %s, %s, %s, %s, now(), %s) ON CONFLICT (instance) DO UPDATE SET"
            " state = EXCLUDED.state, position = EXCLUDED.position, last_seen = now(),"
            " last_error = EXCLUDED.last_error"
        ).format(table)
        self._sql_forget = sql.SQL(
            "DELETE FROM {} WHERE last_seen < now() - make_interval(secs => %s)"
        ).format(table)
        self._sql_leave = sql.SQL("DELETE FROM {} WHERE instance = %s").format(table)

    def beat(
        self, conn: psycopg.Connection[Any], state: str, position: int, error: str | None = None
    ) -> None:
        """Report ``state`` now (autocommit connection)."""
        params = (self.instance, self.name, state, position, os.getpid(), socket.gethostname())
        conn.execute(self._sql_beat, (*params, error), prepare=True)
        conn.execute(self._sql_forget, (FORGET_AFTER_SECONDS,), prepare=True)

    def leave(self, conn: psycopg.Connection[Any]) -> None:
        """Remove this process's row on a clean exit."""
        conn.execute(self._sql_leave, (self.instance,))


class StatusReader:
    """Computes :class:`ProjectionStatus` of the ``tenants`` projection in two round trips."""

    def __init__(self, settings: Settings) -> None:
        schema = settings.db_schema
        self._sql = sql.SQL(
            "SELECT now() AS now,"
            " (SELECT coalesce(max(notification_id), 0) FROM {events}) AS head,"
            " t.position, t.updated_at, t.last_error,"
            " (SELECT array_agg(DISTINCT s.state) FROM {status} s WHERE s.name = %(name)s"
            "   AND s.last_seen > now() - make_interval(secs => %(stale)s)) AS states,"
            " (SELECT s.last_error FROM {status} s WHERE s.name = %(name)s"
            "   AND s.last_error IS NOT NULL ORDER BY s.last_seen DESC LIMIT 1) AS beat_error"
            " FROM (SELECT 1) one LEFT JOIN {tracking} t ON t.name = %(name)s"
        ).format(
            events=sql.Identifier(schema, EVENTS_TABLE),
            status=sql.Identifier(schema, STATUS),
            tracking=sql.Identifier(schema, TRACKING),
        )
        self._sql_first = sql.SQL(
            "SELECT state FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT 1"
        ).format(sql.Identifier(schema, EVENTS_TABLE))
        self._transcoder = OrjsonTranscoder()

    def read(self, conn: psycopg.Connection[Any], name: str = TENANTS) -> ProjectionStatus:
        """The status of projection ``name`` as of now."""
        row = conn.execute(self._sql, {"name": name, "stale": STALE_AFTER_SECONDS}).fetchone()
        assert row is not None  # noqa: S101 - the query always yields one row
        position = int(row["position"] or 0)
        head = max(int(row["head"]), position)
        states = set(row["states"] or ())
        state = next((s for s in _STATE_ORDER if s in states), "stopped")
        lag_events = head - position
        lag = 0.0
        if lag_events > 0:
            lag = self._lag_seconds(conn, row["now"], row["updated_at"], position)
        return ProjectionStatus(
            name=name,
            state=state,
            position=position,
            head=head,
            lag_events=lag_events,
            lag_seconds=round(lag, 3),
            last_error=row["last_error"] or row["beat_error"],
        )

    def _lag_seconds(
        self, conn: psycopg.Connection[Any], now: datetime, updated: datetime | None, after: int
    ) -> float:
        candidates: list[float] = []
        if updated is not None:
            candidates.append((now - updated).total_seconds())
        first = conn.execute(self._sql_first, (after,)).fetchone()
        if first is not None:
            stamp = self._transcoder.decode(bytes(first["state"])).get("timestamp")
            if isinstance(stamp, datetime) and stamp <= now:
                candidates.append((now - stamp).total_seconds())
        return max(0.0, min(candidates)) if candidates else 0.0
