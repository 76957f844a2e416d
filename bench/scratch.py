"""The scratch database a run works in: created, migrated, dropped at the end."""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql

from cli.cmd_core import migrate_all
from common.settings import Settings


def with_dbname(url: str, dbname: str) -> str:
    """``url`` pointing at another database of the same server."""
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def create_scratch(admin_url: str, redis_url: str, *, queue: str) -> Settings:
    """Create and migrate ``tr_bench_<random>``; return settings pointing at it."""
    name = f"tr_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = Settings.model_validate(
        {"DATABASE_URL": with_dbname(admin_url, name), "REDIS_URL": redis_url, "queue_name": queue}
    )
    migrate_all(settings)
    return settings


def drop_scratch(admin_url: str, settings: Settings) -> None:
    """Drop the scratch database, closing whatever still holds it."""
    name = psycopg.conninfo.conninfo_to_dict(settings.database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )
