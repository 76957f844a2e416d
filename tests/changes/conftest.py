"""The changes feed and streams reuse the API tests' fixtures (app, keys, clock)."""

from tests.api.conftest import (
    _session_app,
    _session_clock,
    admin,
    client,
    clock,
    fresh_client,
    make_key,
    settings,
)

__all__ = [
    "_session_app",
    "_session_clock",
    "admin",
    "client",
    "clock",
    "fresh_client",
    "make_key",
    "settings",
]
