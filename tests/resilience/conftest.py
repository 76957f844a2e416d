"""Fixtures of the resilience tests: databases and Redis servers of each test's own.

Every test here runs the registry's real processes, so it gets a database nobody else
truncates (a fresh one on the shared server, or a private server when the test stops it) and
a private Redis on a free port. The shared services are never stopped.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cli.cmd_core import migrate_all
from common.settings import Settings
from tests.conftest import ADMIN_URL
from tests.resilience.stack import Stack
from tests.support.private_pg import PrivatePostgres
from tests.support.private_redis import PrivateRedis

#: A Redis URL where nothing listens: for processes that must not depend on Redis.
NO_REDIS_URL = "redis://127.0.0.1:9/0"


@contextlib.contextmanager
def new_database() -> Iterator[str]:
    """A fresh, migrated database on the shared server, dropped afterwards."""
    name = f"tr_res_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        migrate_all(Settings.model_validate({"DATABASE_URL": url}))
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database() -> Iterator[str]:
    """The URL of a fresh, migrated database of this test's own."""
    with new_database() as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, to stop and start (not yet migrated)."""
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A Redis of this test's own (append-only: a restart keeps its data)."""
    server = PrivateRedis(persist=True)
    server.start()
    yield server
    server.close()


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[MakeStack]:
    """``make_stack(database_url, redis_url, **env)``: a :class:`Stack` whose processes are
    stopped at the end of the test, even when it fails."""
    stacks: list[Stack] = []

    def make(database_url: str, redis_url: str = NO_REDIS_URL, **env: str) -> Stack:
        stack = Stack(tmp_path / f"logs-{len(stacks)}", database_url, redis_url, **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop_all()


def settings_for(database_url: str, redis_url: str = NO_REDIS_URL) -> Settings:
    """In-process settings on the same database and Redis as a stack."""
    return Settings.model_validate({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
