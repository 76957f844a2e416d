"""Walking every page of the list while other clients register tenants."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from fastapi.testclient import TestClient

from common.clock import FrozenClock
from common.settings import Settings
from tests.api.conftest import Headers, project, register


def test_walk_returns_each_earlier_tenant_exactly_once_during_inserts(
    client: TestClient, admin: Headers, settings: Settings, clock: FrozenClock
) -> None:
    earlier: set[str] = set()
    for i in range(45):
        if i % 3:  # every third shares the previous instant: the id breaks the tie
            clock.advance(timedelta(seconds=1))
        earlier.add(register(client, admin, f"before-{i}")["id"])
    middle = clock.now() - timedelta(seconds=10)
    project(settings)

    stop = threading.Event()
    inserted: list[str] = []
    progress = threading.Semaphore(0)  # one release per tenant the other clients add

    def other_clients() -> None:
        writer = TestClient(client.app)
        i = 0
        while not stop.is_set() and i < 40:
            # New tenants land at the head of the list and, with a lagging clock, in the
            # middle of pages not read yet.
            clock.set(middle if i % 2 else middle + timedelta(days=1))
            inserted.append(register(writer, admin, f"during-{i}")["id"])
            project(settings)
            progress.release()
            i += 1

    thread = threading.Thread(target=other_clients)
    thread.start()
    seen: list[str] = []
    cursor = None
    try:
        while True:
            for _ in range(2):  # two more tenants appear before each page is read
                assert progress.acquire(timeout=30)
            params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/tenants", params=params, headers=admin).json()
            seen += [t["id"] for t in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        thread.join()
    counts = Counter(seen)
    assert len(inserted) >= 2 * 7  # the walk really raced with inserts
    assert {tenant: counts[tenant] for tenant in earlier} == dict.fromkeys(earlier, 1)
    assert max(counts.values()) == 1
