"""``tenant-registry migrate`` creates the schema, is idempotent and safe to run twice at once."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ADMIN_URL


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"tr_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_migrations_at_once_both_succeed_in_their_own_schema(empty_database: str) -> None:
    runs = [migrate(empty_database) for _ in range(2)]
    outcomes = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    again = migrate(empty_database)
    again.communicate(timeout=60)
    assert again.returncode == 0
    with psycopg.connect(empty_database) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'tenant_registry'"
            )
        }
        public = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert {"tenantregistry_events", "tenantregistry_snapshots", "purged_tenants"} <= tables
    assert public == (0,)


def test_unreachable_database_is_one_line_without_traceback() -> None:
    run = migrate("postgresql://postgres@127.0.0.1:1/nowhere")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1
    assert err.startswith("tenant-registry: cannot reach PostgreSQL")
    assert "Traceback" not in err


def test_invalid_configuration_is_reported_without_traceback() -> None:
    env = {**os.environ, "TENANT_REGISTRY_TIMEZONE": "Mars/Base"}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "invalid configuration" in run.stderr
    assert "timezone" in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_error_under_python_dash_m_is_one_line_without_traceback() -> None:
    # Under ``-m`` the module loads twice; the error class must still be the one main() catches.
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == "tenant-registry: --workers must be at least 1"
