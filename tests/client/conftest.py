"""Fixtures of the client tests: a real registry (``serve`` + ``project``) and API keys."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from tenant_registry_client import TenantRegistryClient

from api.keys import KeyAdmin
from common.clock import SystemClock
from common.db import connect
from common.settings import Settings
from tests.client.registry_processes import RunningRegistry
from tests.conftest import REDIS_URL

_names = itertools.count()


def empty_tables(settings: Settings) -> None:
    """Empty every table (``DELETE``: positions keep growing, as running processes expect)."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (settings.db_schema,)
        ).fetchall()
        for (name,) in rows:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(settings.db_schema, name)))


def create_key(settings: Settings, *scopes: str) -> str:
    """Store an API key with ``scopes`` and return its secret."""
    with connect(settings) as conn:
        _, secret = KeyAdmin(conn, settings).create(
            f"client-test-{next(_names)}", scopes, SystemClock().now()
        )
    return secret


@pytest.fixture(scope="package")
def module_settings(database_url: str) -> Settings:
    s = Settings.model_validate({"DATABASE_URL": database_url, "REDIS_URL": f"{REDIS_URL}/0"})
    empty_tables(s)
    return s


@pytest.fixture(scope="package")
def registry_server(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    """A registry shared by the client tests (they use distinct slugs)."""
    with RunningRegistry(module_settings, tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="package")
def admin_key(module_settings: Settings) -> str:
    return create_key(module_settings, "admin")


@pytest.fixture
def api(registry_server: RunningRegistry, admin_key: str) -> Iterator[TenantRegistryClient]:
    """A client with an admin key."""
    with TenantRegistryClient(registry_server.url, admin_key) as client:
        yield client
