"""Run schema creation steps one process at a time (a PostgreSQL advisory lock)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from common.db import connect
from common.settings import Settings

# An arbitrary, fixed key: every ``migrate`` against the same database queues on it.
MIGRATE_LOCK_KEY = 7_215_300_412


def run_migrations(settings: Settings, steps: Iterable[Callable[[Settings], None]]) -> None:
    """Run each step while holding the migration lock, so concurrent runs serialise."""
    with connect(settings) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
        try:
            for step in steps:
                step(settings)
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))
