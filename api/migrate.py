"""``tenant-registry migrate`` for the API: the API keys table, created by its store (the
write side owns the idempotency table, which purges clean up)."""

from application.keys import migrate_keys as migrate_api

__all__ = ["migrate_api"]
