"""``migrate``: create or update every layer's schema."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from api.migrate import migrate_api
from application.migrate import migrate_write_side
from common.migrations import run_migrations
from common.settings import Settings, get_settings
from projections.schema import migrate_read_side
from webhooks.schema import migrate_webhooks


def register(subparsers: Any) -> None:
    migrate = subparsers.add_parser("migrate", help="create or update the database schema")
    migrate.set_defaults(handler=cmd_migrate)


#: Each layer's schema step, in dependency order (one line per layer).
MIGRATION_STEPS: list[Callable[[Settings], None]] = [
    migrate_write_side,
    migrate_read_side,
    migrate_api,
    migrate_webhooks,
]


def migrate_all(settings: Settings) -> None:
    """Every layer's schema, in dependency order, under the migration lock."""
    run_migrations(settings, MIGRATION_STEPS)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    migrate_all(settings)
    print(f"schema {settings.db_schema!r} is up to date")
    return 0
