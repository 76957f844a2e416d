"""DDL of the write side: the event store (through the library) and the tables beside it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from common.settings import Settings
from common.tables import IDEMPOTENCY_TABLE, SECRETS_TABLE, TOMBSTONES_TABLE


def create_schema(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Create the PostgreSQL schema and the write side's own tables (idempotent)."""
    schema = settings.db_schema
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " tenant_id uuid PRIMARY KEY,"
            " purged_at timestamptz NOT NULL)"
        ).format(sql.Identifier(schema, TOMBSTONES_TABLE))
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " api_key text NOT NULL,"
            " key text NOT NULL,"
            " fingerprint bytea NOT NULL,"
            " state text NOT NULL CHECK (state IN ('running', 'done')),"
            " status_code int,"
            " response bytea,"
            " tenant_id uuid,"
            " created_at timestamptz NOT NULL,"
            " lease_until timestamptz NOT NULL,"
            " PRIMARY KEY (api_key, key))"
        ).format(sql.Identifier(schema, IDEMPOTENCY_TABLE))
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, value bytea NOT NULL)"
        ).format(sql.Identifier(schema, SECRETS_TABLE))
    )
    for column in ("tenant_id", "created_at"):
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{IDEMPOTENCY_TABLE}_{column}_idx"),
                sql.Identifier(schema, IDEMPOTENCY_TABLE),
                sql.Identifier(column),
            )
        )
