"""What the projector processes report about themselves (their heartbeat rows)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from common.settings import Settings
from projections.schema import STATUS


def projector_states(settings: Settings) -> dict[int, str]:
    """pid -> state of every projector process that reported in the last 10 seconds."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT pid, state FROM {} WHERE last_seen > now() - interval '10 seconds'"
            ).format(sql.Identifier(settings.db_schema, STATUS))
        ).fetchall()
    return {int(pid): str(state) for pid, state in rows}
