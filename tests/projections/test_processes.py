"""The ``tenant-registry project`` process: crash safety, one active projector, standby."""

from __future__ import annotations

import signal

from application.registry import TenantRegistry
from common.db import connect
from common.settings import Settings
from projections.queries import ReadModel
from projections.rebuild import rebuild
from projections.schema import create_generation, generations
from tests.projections.conftest import (
    Projectors,
    table_snapshot,
    tracked_position,
    wait_until,
)
from tests.support.projector_status import projector_states
from tests.support.seed import seed_events


def test_projector_killed_mid_catch_up_resumes_to_a_table_equal_to_a_rebuild(
    settings: Settings, registry: TenantRegistry, projectors: Projectors
) -> None:
    seed_events(registry, 4_000, seed=7)
    head = registry.head()
    first = projectors.start(settings, "--batch-size", "100")
    wait_until(lambda: tracked_position(settings) > head // 5, 60, "the projector to progress")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = tracked_position(settings)
    assert 0 < killed_at < head, "the kill should land in the middle of the catch-up"

    projectors.start(settings, "--batch-size", "100")
    wait_until(lambda: tracked_position(settings) == head, 90, "the restarted projector")
    resumed = table_snapshot(settings)

    rebuild(settings)  # a fresh build from position 0, swapped in
    assert table_snapshot(settings) == resumed
    assert len(resumed[0]) > 300


def _generations(settings: Settings) -> list[int]:
    with connect(settings) as conn:
        return generations(conn, settings)


def test_second_projector_waits_as_standby_and_takes_over(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel, projectors: Projectors
) -> None:
    (status,) = read_model.projections()
    assert status.state == "stopped"
    with connect(settings) as conn:  # what a rebuild that died would leave behind
        create_generation(conn, settings, 99, indexes=False, trgm=False)
    assert 99 in _generations(settings)

    first = projectors.start(settings)
    wait_until(lambda: projector_states(settings).get(first.pid) == "running", 30, "first up")
    assert 99 not in _generations(settings), "an abandoned generation keeps no data"
    second = projectors.start(settings)
    wait_until(lambda: projector_states(settings).get(second.pid) == "standby", 30, "standby")
    registry.register(slug="seen-by-first", name="First", actor="test")
    wait_until(lambda: read_model.position() == registry.head(), 30, "the first to project")
    assert projector_states(settings) == {first.pid: "running", second.pid: "standby"}
    assert read_model.projections()[0].state == "running"

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    taken_over = registry.register(slug="seen-by-second", name="Second", actor="test")
    wait_until(lambda: read_model.position() >= taken_over.position, 30, "the second to take over")
    assert read_model.get(taken_over.tenant.id) is not None
    assert projector_states(settings).get(second.pid) == "running"
    (status,) = read_model.projections()
    assert (status.state, status.lag_events, status.last_error) == ("running", 0, None)
