"""Under load the projector drains at most once per ``Projector.coalesce_seconds``.

The interval is set to an hour, and the projector's stop event records every wait it is asked
for and returns at once from a wait that long: a commit that arrives soon after a drain must
make the projector ask to wait out the rest of the hour before it drains again, and the commit
is still projected (the recorded wait returned at once). Nothing here depends on how fast the
machine is: the interval is an hour, the commits come within seconds.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from application.registry import TenantRegistry
from common.settings import Settings
from domain.lifecycle import Command
from projections.projector import Projector
from tests.projections.conftest import tracked_position, wait_until

INTERVAL = 3600.0
#: Longer than any other wait of the projector (its error backoff is at most a minute).
LONG = 1000.0


class RecordingStop(threading.Event):
    """A stop event that records the waits asked of it; an hour-long one returns at once."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if timeout is not None and timeout > LONG:
            return self.is_set()
        return super().wait(timeout)


@contextmanager
def running(projector: Projector) -> Iterator[RecordingStop]:
    """The projector on a thread of its own, stopped (and checked stopped) afterwards."""
    stop = RecordingStop()
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def test_a_commit_soon_after_a_drain_waits_out_the_interval(
    settings: Settings, registry: TenantRegistry
) -> None:
    projector = Projector(settings)
    projector.coalesce_seconds = INTERVAL
    with running(projector) as stop:
        first = registry.register(slug=f"c-{uuid.uuid4().hex[:8]}", name="C", actor="test")
        wait_until(lambda: tracked_position(settings) >= first.position, 60, "the registration")
        second = registry.run(Command.ACTIVATE, first.tenant.id, actor="test")
        wait_until(lambda: tracked_position(settings) >= second.position, 60, "the activation")
    coalescing = [w for w in stop.waits if w is not None and w > LONG]
    assert len(coalescing) >= 2  # one per commit: each came right after a drain
    assert all(w <= INTERVAL for w in coalescing)


def test_a_busy_drain_makes_the_next_interval_the_longer_one(
    settings: Settings, registry: TenantRegistry
) -> None:
    """A drain of ``busy_events`` or more asks for ``busy_coalesce_seconds``; a smaller one
    for ``coalesce_seconds`` again."""
    projector = Projector(settings)
    projector.coalesce_seconds = INTERVAL
    projector.busy_coalesce_seconds = 2 * INTERVAL
    projector.busy_events = 3
    # Committed before the projector starts: its first drain projects all of them at once.
    tenants = [
        registry.register(slug=f"b-{uuid.uuid4().hex[:8]}", name="B", actor="test")
        for _ in range(projector.busy_events)
    ]
    with running(projector) as stop:
        last = tenants[-1].position
        wait_until(lambda: tracked_position(settings) >= last, 60, "the registrations")
        one = registry.run(Command.ACTIVATE, tenants[0].tenant.id, actor="test")
        wait_until(lambda: tracked_position(settings) >= one.position, 60, "the activation")
        two = registry.run(Command.ACTIVATE, tenants[1].tenant.id, actor="test")
        wait_until(lambda: tracked_position(settings) >= two.position, 60, "the activation")
    coalescing = [w for w in stop.waits if w is not None and w > LONG]
    assert len(coalescing) >= 3
    assert INTERVAL < coalescing[0] <= 2 * INTERVAL  # after the drain of the registrations
    assert all(w <= INTERVAL for w in coalescing[1:])  # after drains of one event or none
