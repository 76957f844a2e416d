"""Fixtures of the read-side tests: a read model, projector processes, table comparisons."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.tenant import Tenant
from projections.queries import ReadModel, TenantRow
from projections.schema import COLUMNS, PURGED, TENANTS, TRACKING

CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tenant-registry")


@pytest.fixture
def read_model(settings: Settings, clock: FrozenClock) -> Iterator[ReadModel]:
    model = ReadModel(settings, clock)
    yield model
    model.close()


def expected_row(tenant: Tenant) -> TenantRow:
    """What the read table must hold for ``tenant`` (replayed from its events)."""
    return TenantRow(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        timezone=tenant.timezone,
        plan=tenant.plan,
        contact_email=tenant.contact_email,
        metadata=tenant.metadata,
        status=tenant.status.value,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        trial_ends_at=tenant.trial_ends_at,
        grace_ends_at=tenant.grace_ends_at,
        activated_at=tenant.activated_at,
        paused_at=tenant.paused_at,
        cancelled_at=tenant.cancelled_at,
        deleted_at=tenant.deleted_at,
        purge_after=tenant.purge_after,
        version=tenant.version,
    )


def table_snapshot(settings: Settings) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of the read table and of the purged ids, in id order."""
    schema = settings.db_schema
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY id").format(cols, sql.Identifier(schema, TENANTS))
        ).fetchall()
        purged = conn.execute(
            sql.SQL("SELECT id, purged_at FROM {} ORDER BY id").format(
                sql.Identifier(schema, PURGED)
            )
        ).fetchall()
    return rows, purged


def tracked_position(settings: Settings, name: str = TENANTS) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT position FROM {} WHERE name = %s").format(
                sql.Identifier(settings.db_schema, TRACKING)
            ),
            (name,),
        ).fetchone()
    return 0 if row is None else int(row[0])


def head(registry: TenantRegistry) -> int:
    return registry.head()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Projectors:
    """Starts ``tenant-registry project`` processes and kills them all at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, settings: Settings, *args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "TENANT_REGISTRY_DB_SCHEMA": settings.db_schema,
        }
        with (self.tmp_path / f"projector-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen([CLI, "project", *args], env=env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def log(self, index: int) -> str:
        return (self.tmp_path / f"projector-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def projectors(tmp_path: Path) -> Iterator[Projectors]:
    started = Projectors(tmp_path)
    yield started
    started.stop_all()


def tenant_ids(settings: Settings) -> list[UUID]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT id FROM {}").format(sql.Identifier(settings.db_schema, TENANTS))
        ).fetchall()
    return [row[0] for row in rows]
