"""``tenant-registry migrate`` for the API: the API keys table (the write side owns the
idempotency table, which purges clean up)."""

from __future__ import annotations

from api.keys import create_table
from common.db import connect
from common.settings import Settings


def migrate_api(settings: Settings) -> None:
    """Create the API's tables; safe to repeat."""
    with connect(settings) as conn:
        create_table(conn, settings)
