"""The registry's processes the scenarios share: a projector and an API server, started lazily."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.procs import Child, cli_command, cli_env, free_port, run_cli, wait_http
from common.settings import Settings
from common.tables import EVENTS_TABLE

#: Growth of the store (events) after which the statistics are refreshed before a read.
ANALYZE_AFTER = 10_000


def analyze(settings: Settings) -> None:
    """ANALYZE the scratch database, as autovacuum would have by now (it is off on the
    shared server here), so the read scenarios run on planner statistics like production's.

    Without it, a run that skips ``catch-up`` (which analyzed) read a freshly projected
    1 M-row table with none: ``status=grace`` pages were planned as a bitmap scan of all
    53,473 grace tenants and a sort (1.16 s), and the list row's p99 read 811 ms."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        settle(conn)


def settle(conn: psycopg.Connection[Any]) -> None:
    """CHECKPOINT after a bulk load, so that the flush of what it wrote (a seed, the peer's
    table: hundreds of MB) runs now and not inside the next measured window. Seen: the
    peer's table load set off a checkpoint 5 s before the registry's first `GET` round,
    which read p99 804 ms (max 2.0 s) against 22 ms in its second round. Skipped without the
    right to checkpoint (superuser or ``pg_checkpoint``)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def head(settings: Settings) -> int:
    """The newest position in the event store."""
    events = sql.Identifier(settings.db_schema, EVENTS_TABLE)
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(events)
        ).fetchone()
    return int(row[0]) if row else 0


def projected(settings: Settings) -> int:
    """The position the ``tenants`` projection has reached (0 before its first batch)."""
    tracking = sql.Identifier(settings.db_schema, "projection_tracking")
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT position FROM {} WHERE name = 'tenants'").format(tracking)
        ).fetchone()
    return int(row[0]) if row else 0


class Services:
    """Starts the projector and the API on demand; stops whatever it started."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.projector: Child | None = None
        self.api: Child | None = None
        self.api_workers = 0
        self.base_url = ""
        self._key: str | None = None
        self._analyzed_at = 0  # the head at the last ANALYZE

    def start_projector(self) -> Child:
        """A running ``tenant-registry project`` (started if needed)."""
        if self.projector is None or not self.projector.alive():
            self.projector = Child(
                "projector", cli_command("project"), cli_env(self.settings), self.workdir
            )
        return self.projector

    def caught_up(self, timeout: float = 900) -> None:
        """Start the projector if needed and wait until it reaches the head; ANALYZE when the
        store grew by more than :data:`ANALYZE_AFTER` events since the last time (a seed)."""
        child = self.start_projector()
        target = head(self.settings)
        deadline = time.monotonic() + timeout
        while projected(self.settings) < target:
            if not child.alive():
                msg = f"projector exited:\n{child.tail()}"
                raise RuntimeError(msg)
            if time.monotonic() > deadline:
                msg = f"projector did not catch up within {timeout:.0f}s"
                raise TimeoutError(msg)
            time.sleep(0.2)
        if target - self._analyzed_at > ANALYZE_AFTER:
            analyze(self.settings)
            self._analyzed_at = target

    def api_key(self) -> str:
        """An admin API key for the benchmark (created once)."""
        if self._key is None:
            out = run_cli(
                self.settings, "api-keys", "create", "--name", "bench", "--scopes", "admin"
            )
            self._key = out.strip().splitlines()[-1]
        return self._key

    def start_api(self, workers: int) -> str:
        """``tenant-registry serve --workers N`` on a free port; return its base URL."""
        if self.api is not None and self.api.alive() and self.api_workers == workers:
            return self.base_url
        self.stop_api()
        port = free_port()
        argv = cli_command("serve", "--port", str(port), "--workers", str(workers))
        self.api = Child(f"api-{workers}w", argv, cli_env(self.settings), self.workdir)
        self.api_workers = workers
        self.base_url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{self.base_url}/healthz", 60)
        except TimeoutError:
            msg = f"API did not start:\n{self.api.tail()}"
            raise RuntimeError(msg) from None
        return self.base_url

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def stop(self) -> None:
        """Stop everything this object started."""
        self.stop_api()
        if self.projector is not None:
            self.projector.stop()
            self.projector = None
