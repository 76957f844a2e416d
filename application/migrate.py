"""``tenant-registry migrate`` for the write side: schema, event store, tables beside it."""

from __future__ import annotations

from application.registry import TenantRegistry
from application.schema import create_schema
from common.db import connect
from common.settings import Settings


def migrate_write_side(settings: Settings) -> None:
    """Create everything the write side needs; safe to repeat."""
    with connect(settings) as conn:
        create_schema(conn, settings)
    app = TenantRegistry(settings, create_table=True)
    try:
        with connect(settings) as conn:
            for statement in app.tenant_recorder.sql_drop_old_save_functions:
                conn.execute(statement)
            for statement in app.tenant_recorder.sql_create_save_functions:
                conn.execute(statement)
    finally:
        app.close()
