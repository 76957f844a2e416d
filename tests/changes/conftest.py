"""Fixtures: the API tests' app and keys (feed tests), a real stack (stream tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from application.registry import TenantRegistry
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
from tests.changes.live import Live, frozen_now
from tests.resilience.conftest import NO_REDIS_URL, new_database, settings_for
from tests.resilience.stack import Stack

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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``serve`` and ``project`` on a database of this module's own (heartbeat 0.5 s)."""
    with new_database() as url:
        stack = Stack(
            tmp_path_factory.mktemp("stack"),
            url,
            NO_REDIS_URL,
            TENANT_REGISTRY_STREAM_HEARTBEAT_SECONDS="0.5",
            # The database server is shared: small pools.
            TENANT_REGISTRY_POOL_SIZE="2",
            TENANT_REGISTRY_POOL_MAX_OVERFLOW="2",
        )
        registry = None
        try:
            key = stack.create_key("streams", "tenants:read")
            stack.start("projector", "project")
            api = stack.serve()
            settings = settings_for(url).model_copy(update={"pool_size": 2})
            clock = frozen_now()
            registry = TenantRegistry(settings, clock)
            yield Live(stack, api, key, settings, clock, registry)
        finally:
            if registry is not None:
                registry.close()
            stack.stop_all()
