"""The consumer side of the ``following`` scenario, run as child processes (their memory and CPU
are their own): ``python -m bench.following_probes directory|streams URL KEY ...``.

``directory``: bootstrap a ``TenantDirectory`` (time, memory), time ``get``, then follow while
the parent sends commands: when each streamed change was applied (``get`` sees it).
``streams``: open N changes streams on one asyncio loop and record, per stream, when each
position arrived. Both
print one ``BENCH_JSON {...}`` line; times are wall-clock (``time.time``) so the parent can match
them with its commands.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
from typing import Any
from uuid import UUID

import httpx
import psutil
from tenant_registry_client import (
    Arrival,
    AsyncTenantRegistryClient,
    TenantDirectory,
    TenantRegistryClient,
)
from tenant_registry_client.sse import ServerSentEvent


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _deep_size(directory: TenantDirectory) -> int:
    """Bytes of every distinct object the directory holds (its two maps, the records and what
    they reference, shared strings counted once): the live size, without the allocator's
    fragmentation that RSS also shows."""
    seen: set[int] = set()
    total = sys.getsizeof(directory._by_id) + sys.getsizeof(directory._by_slug)
    stack: list[object] = list(directory.tenants())
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(type(item), "__slots__"):
            stack.extend(getattr(item, name, None) for name in _slots(type(item)))
    return total


def _slots(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [n for n in names if n != "__weakref__"]


def _time_gets(directory: TenantDirectory, ids: list[UUID]) -> float:
    """Nanoseconds per ``get`` over ``ids`` (best of three passes)."""
    best = float("inf")
    get = directory.get
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for tenant_id in ids:
            get(tenant_id)
        best = min(best, (time.perf_counter_ns() - t0) / len(ids))
    return best


def directory_probe(url: str, key: str, ready: str, seconds: float) -> dict[str, Any]:
    """Bootstrap and measure, then follow for ``seconds`` while the parent sends commands,
    noting when each streamed change was applied (``get`` answers it from then on: the
    observer runs under the directory's lock, just before the record is swapped in)."""
    applied: dict[int, float] = {}

    def observe(arrival: Arrival) -> None:
        if arrival.connection > 0:
            applied[arrival.position] = time.time()

    client = TenantRegistryClient(url, key, timeout=60)
    directory = TenantDirectory(client, observer=observe)
    before = _rss()
    t0 = time.perf_counter()
    directory.start()
    bootstrap = time.perf_counter() - t0
    after = _rss()
    live_bytes = _deep_size(directory)
    ids = [t.id for t in directory.tenants()[:200_000]]
    get_ns = _time_gets(directory, ids)
    with open(ready, "w") as marker:
        marker.write("ready\n")
    time.sleep(seconds)
    directory.stop()
    client.close()
    return {
        "tenants": len(directory),
        "bootstrap_seconds": bootstrap,
        "directory_bytes": after - before,
        "live_bytes": live_bytes,
        "get_ns": get_ns,
        "applied": applied,
    }


async def _follow(
    client: AsyncTenantRegistryClient,
    after: int,
    arrivals: list[tuple[int, float]],
    connected: list[int],
    stop: asyncio.Event,
) -> None:
    async with client.open_stream("/v1/tenants/changes/stream", after=after) as messages:
        connected.append(1)
        async for message in messages:
            if isinstance(message, ServerSentEvent) and message.id is not None:
                arrivals.append((int(message.id), time.time()))
            if stop.is_set():
                return


async def _streams(
    url: str, key: str, count: int, *, after: int, ready: str, seconds: float
) -> Any:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with AsyncTenantRegistryClient(url, key, limits=limits, timeout=60) as client:
        arrivals: list[list[tuple[int, float]]] = [[] for _ in range(count)]
        connected: list[int] = []
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_follow(client, after, arrivals[i], connected, stop))
            for i in range(count)
        ]
        while len(connected) < count and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        with open(ready, "w") as marker:
            marker.write(f"{len(connected)}\n")
        await asyncio.sleep(seconds)
        stop.set()
        for task in tasks:
            task.cancel()
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
        await asyncio.gather(*tasks, return_exceptions=True)
    errors = sorted({type(t.exception()).__name__ for t in failed})
    return {"connected": len(connected), "errors": errors, "arrivals": arrivals}


def main(argv: list[str]) -> int:
    kind, url, key = argv[:3]
    if kind == "directory":
        result = directory_probe(url, key, argv[3], float(argv[4]))
    else:
        count, after, ready, seconds = int(argv[3]), int(argv[4]), argv[5], float(argv[6])
        result = asyncio.run(_streams(url, key, count, after=after, ready=ready, seconds=seconds))
    sys.stdout.write("BENCH_JSON " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "probe"
    sys.exit(main(sys.argv[1:]))
