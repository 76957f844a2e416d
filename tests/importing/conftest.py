"""Fixtures of the import tests: a source database of another system, and the CLI."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from common.settings import Settings
from tests.conftest import ADMIN_URL

CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tenant-registry")

#: The shape teams arrive with (SPEC §13): one mutable row per tenant.
SOURCE_TABLE = """
CREATE TABLE {} (
    id uuid PRIMARY KEY,
    name text,
    slug text,
    status text NOT NULL,
    timezone text NOT NULL DEFAULT 'Asia/Jerusalem',
    plan text,
    contact_email text,
    metadata jsonb,
    trial_ends_at timestamptz,
    grace_ends_at timestamptz,
    activated_at timestamptz,
    paused_at timestamptz,
    cancelled_at timestamptz,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
)
"""
SOURCE_COLUMNS = [
    "id",
    "name",
    "slug",
    "status",
    "timezone",
    "plan",
    "contact_email",
    "metadata",
    "trial_ends_at",
    "grace_ends_at",
    "activated_at",
    "paused_at",
    "cancelled_at",
    "deleted_at",
    "created_at",
    "updated_at",
]


@pytest.fixture(scope="session")
def source_database() -> Iterator[str]:
    """Another system's database, for this test session."""
    name = f"tr_src_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@dataclass
class SourceTable:
    """A tenants table of the source database, with helpers to fill it."""

    url: str
    name: str

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        columns = sql.SQL(", ").join(map(sql.Identifier, SOURCE_COLUMNS))
        marks = sql.SQL(", ").join(sql.Placeholder() * len(SOURCE_COLUMNS))
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(self.name), columns, marks
        )
        params = [
            [
                Jsonb(r[c]) if c == "metadata" and r.get(c) is not None else r.get(c)
                for c in SOURCE_COLUMNS
            ]
            for r in rows
        ]
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            cur.executemany(query, params)


@pytest.fixture
def source_table(source_database: str) -> Iterator[SourceTable]:
    name = f"tenants_{secrets.token_hex(4)}"
    with psycopg.connect(source_database) as conn:
        conn.execute(sql.SQL(SOURCE_TABLE).format(sql.Identifier(name)))
    yield SourceTable(source_database, name)
    with psycopg.connect(source_database) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Run:
    """One finished ``tenant-registry import``."""

    returncode: int
    summary: dict[str, Any]
    stderr: str


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TENANT_REGISTRY_DB_SCHEMA": settings.db_schema,
    }


def run_import(settings: Settings, *args: str) -> Run:
    """Run the command to the end; its JSON summary is the last line of standard output."""
    done = subprocess.run(
        [CLI, "import", *args],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    return Run(done.returncode, summary, done.stderr)
