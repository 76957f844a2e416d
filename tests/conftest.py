"""Shared fixtures: a database of this test session's own on the machine's PostgreSQL.

Every test run creates ``tr_test_<random>`` (dropped at the end) and migrates it once; each
test that uses the store starts from empty tables. Set ``TEST_DATABASE_URL`` to point the suite
at another server (it needs the right to create databases); when nothing answers there, the
session starts its own (``tests/support/services.py``). Redis is the session's own unless
``TEST_REDIS_URL`` names one.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from application.registry import TenantRegistry
from cli.cmd_core import migrate_all
from cli.main import main
from common.clock import FrozenClock
from common.settings import Settings, get_settings
from common.tables import SECRETS_TABLE
from tests.support.services import start_session_services

SERVICES = start_session_services()
ADMIN_URL = SERVICES.database_url
REDIS_URL = SERVICES.redis_url
# A command a test runs without DATABASE_URL reaches the session's server, never starts the
# embedded one of a ./var folder (what the CLI does for a person without the variable).
os.environ.setdefault("DATABASE_URL", ADMIN_URL)


def pytest_report_header() -> list[str]:
    return [f"services: {note}" for note in SERVICES.notes]


def _with_dbname(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    name = f"tr_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(ADMIN_URL, name)
    migrate_all(Settings.model_validate({"DATABASE_URL": url}))
    yield url
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for one test; the tables are emptied first."""
    s = Settings.model_validate({"DATABASE_URL": database_url, "REDIS_URL": f"{REDIS_URL}/0"})
    truncate_all(s)
    return s


def truncate_all(settings: Settings) -> None:
    """Empty every table in the registry's schema and restart their sequences."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> %s",
            (settings.db_schema, SECRETS_TABLE),
        ).fetchall()
        if rows:
            tables = sql.SQL(", ").join(sql.Identifier(settings.db_schema, r[0]) for r in rows)
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(tables))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def registry(settings: Settings, clock: FrozenClock) -> Iterator[TenantRegistry]:
    app = TenantRegistry(settings, clock)
    yield app
    app.close()


#: ``cli("tenants", "list")`` -> (exit code, stdout, stderr).
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """``tenant-registry`` in-process on the test's database: ``cli("api-keys", "list")``."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() installs its own log handler

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()
