"""The projector survives its database going away and coming back (a private server)."""

from __future__ import annotations

import pytest

from application.registry import TenantRegistry
from cli.cmd_core import migrate_all
from common.clock import FrozenClock
from common.settings import Settings
from tests.conftest import REDIS_URL
from tests.projections.conftest import Projectors, tracked_position, wait_until
from tests.support.private_pg import PrivatePostgres, private_pg  # noqa: F401 - fixture

pytestmark = pytest.mark.resilience


def test_projector_reconnects_after_a_database_restart_and_catches_up(
    private_pg: PrivatePostgres,  # noqa: F811 - the fixture
    projectors: Projectors,
    clock: FrozenClock,
) -> None:
    settings = Settings.model_validate(
        {"DATABASE_URL": private_pg.url, "REDIS_URL": f"{REDIS_URL}/0"}
    )
    migrate_all(settings)
    registry = TenantRegistry(settings, clock)
    try:
        registry.register(slug="before-restart", name="Before", actor="test")
        projectors.start(settings)
        wait_until(lambda: tracked_position(settings) == registry.head(), 30, "first catch-up")
    finally:
        registry.close()

    private_pg.restart(down_for=1.5)

    registry = TenantRegistry(settings, clock)
    try:
        for i in range(5):
            registry.register(slug=f"after-restart-{i}", name="After", actor="test")
        head = registry.head()
    finally:
        registry.close()
    wait_until(lambda: tracked_position(settings) == head, 45, "catch-up after the restart")
    assert projectors.processes[0].poll() is None, "the projector kept running"
    assert "reconnecting" in projectors.log(0)
