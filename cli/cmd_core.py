"""``migrate`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Callable
from typing import Any

from api.migrate import migrate_api
from application.migrate import migrate_write_side
from application.registry import TenantRegistry
from common.migrations import run_migrations
from common.settings import Settings, get_settings
from projections.schema import migrate_read_side


def register(subparsers: Any) -> None:
    migrate = subparsers.add_parser("migrate", help="create or update the database schema")
    migrate.set_defaults(handler=cmd_migrate)
    demo = subparsers.add_parser(
        "demo", help="register a tenant, move it through its lifecycle, print its history"
    )
    demo.add_argument("--slug", default=None, help="slug of the demo tenant (random if unset)")
    demo.set_defaults(handler=cmd_demo)


#: Each layer's schema step, in dependency order (one line per layer).
MIGRATION_STEPS: list[Callable[[Settings], None]] = [
    migrate_write_side,
    migrate_read_side,
    migrate_api,
]


def migrate_all(settings: Settings) -> None:
    """Every layer's schema, in dependency order, under the migration lock."""
    run_migrations(settings, MIGRATION_STEPS)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    migrate_all(settings)
    print(f"schema {settings.db_schema!r} is up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    migrate_all(settings)
    slug = args.slug or f"demo-{secrets.token_hex(3)}"
    app = TenantRegistry(settings)
    try:
        result = app.register(
            slug=slug, name="Demo Ltd", actor="cli:demo", contact_email="ops@demo.example"
        )
        tenant_id = result.tenant.id
        for command in ("activate", "start-grace", "activate", "cancel"):
            app.run(command, tenant_id, actor="cli:demo", reason="demo")
        for event in app.history(tenant_id):
            print(
                json.dumps(
                    {
                        "position": event.position,
                        "version": event.version,
                        "type": event.type,
                        "occurred_at": event.occurred_at.isoformat(),
                        "actor": event.actor,
                    }
                )
            )
        tenant = app.get_tenant(tenant_id)
        print(
            f"tenant {tenant.slug} ({tenant.id}) is {tenant.status.value}, version {tenant.version}"
        )
    finally:
        app.close()
    return 0
