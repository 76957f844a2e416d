"""Acceptance 2 and 3 of issue 12: many streams on one process, and clients that stop reading.

Both run a ``serve`` of their own next to the module's projector. Nothing here is timed:
every wait is on a condition, bounded by a generous deadline.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import psycopg
from httpx_sse import ServerSentEvent, aconnect_sse

from domain.lifecycle import Command
from tests.changes.live import DEADLINE, Live, data, stream, take
from tests.resilience.stack import Process, wait_until

CLIENTS = 200
BURST_TENANTS = 20
MAX_CONNECTIONS = 8
RSS_GROWTH_BOUND = 64 * 1024 * 1024
STALL_ITEMS = 800


def database_connections(conn: psycopg.Connection[Any], application_name: str) -> int:
    """Connections the server holds to the test database (``pg_stat_activity``)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s",
        (application_name,),
    ).fetchone()
    return int(row[0]) if row else 0


def open_streams(api: Process) -> dict[str, float]:
    """The server's ``tenant_registry_streams`` gauge, by stream."""
    text = httpx.get(f"{api.url}/metrics", timeout=DEADLINE).text
    found = re.findall(r'^tenant_registry_streams\{stream="(\w+)"\} (\S+)$', text, re.M)
    return {name: float(value) for name, value in found}


def get_ok(url: str, headers: dict[str, str]) -> httpx.Response:
    """A GET that must succeed; a 503 (the shared database server is busy) is retried."""
    answers: list[httpx.Response] = []

    def ok() -> bool:
        answers.append(httpx.get(url, headers=headers, timeout=DEADLINE))
        return answers[-1].status_code != 503

    wait_until(ok, DEADLINE, f"an answer from {url}")
    assert answers[-1].status_code == 200, answers[-1].text
    return answers[-1]


def burst(live: Live, marker: str) -> None:
    """Register and activate tenants, then register the marker that ends every client."""
    for _ in range(BURST_TENANTS):
        tenant = live.register(f"b-{secrets.token_hex(4)}").tenant
        live.registry.run(Command.ACTIVATE, tenant.id, actor="key:test")
    live.register(marker)


async def follow(
    client: httpx.AsyncClient,
    key: str,
    *,
    path: str,
    after: int,
    connected: Callable[[], None],
    done: Callable[[ServerSentEvent], bool],
) -> list[ServerSentEvent]:
    headers = {"Authorization": f"Bearer {key}"}
    got: list[ServerSentEvent] = []
    for _ in range(10):  # a 503 (the shared database server is busy) is retried
        async with aconnect_sse(
            client, "GET", path, params={"after": after}, headers=headers
        ) as sse:
            if sse.response.status_code == 503:
                await asyncio.sleep(1)
                continue
            assert sse.response.status_code == 200
            connected()
            async for message in sse.aiter_sse():
                if not message.data:
                    continue  # a heartbeat comment
                got.append(message)
                if done(message):
                    return got
        return got
    msg = f"{path} kept answering 503"
    raise AssertionError(msg)


def test_200_streams_on_one_process_get_every_item_over_a_handful_of_connections(
    live: Live,
) -> None:
    name = f"tr-fanout-{secrets.token_hex(4)}"
    # Small pools prove the point: 200 streams cannot each hold a connection of their own.
    api = live.stack.serve("fanout", PGAPPNAME=name, TENANT_REGISTRY_POOL_MAX_OVERFLOW="0")
    marker = f"marker-{secrets.token_hex(4)}"
    after = live.head()
    # A server that has seen the key before (the key cache is not what this test is about).
    headers = {"Authorization": f"Bearer {live.key}"}
    for path in ("/v1/stats", "/v1/events"):
        get_ok(f"{api.url}{path}", headers)
    # One connection for every sample: the database server is shared and near its limit.
    sampler = psycopg.connect(live.settings.database_url, autocommit=True)
    baseline = database_connections(sampler, name)

    def is_marker(message: ServerSentEvent) -> bool:
        item = data(message)
        document = item.get("tenant") or item.get("data") or {}
        return bool(document.get("slug") == marker)

    async def scenario() -> tuple[list[list[ServerSentEvent]], int]:
        connected = 0

        def one_more() -> None:
            nonlocal connected
            connected += 1

        limits = httpx.Limits(max_connections=CLIENTS + 10)
        timeout = httpx.Timeout(DEADLINE, connect=DEADLINE)
        async with httpx.AsyncClient(base_url=api.url, limits=limits, timeout=timeout) as client:
            paths = ["/v1/tenants/changes/stream", "/v1/events/stream"] * (CLIENTS // 2)
            tasks = [
                asyncio.create_task(
                    follow(
                        client, live.key, path=p, after=after, connected=one_more, done=is_marker
                    )
                )
                for p in paths
            ]
            await asyncio.wait_for(_until(lambda: connected == CLIENTS), DEADLINE)
            most = database_connections(sampler, name)
            writer = asyncio.create_task(asyncio.to_thread(burst, live, marker))
            while not all(t.done() for t in tasks):
                most = max(most, await asyncio.to_thread(database_connections, sampler, name))
                await asyncio.sleep(0.1)
                if writer.done() and writer.exception():
                    raise AssertionError(writer.exception())
            await writer
            received = await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
            return received, most

    try:
        received, most = asyncio.run(asyncio.wait_for(scenario(), DEADLINE * 3))
    finally:
        sampler.close()
        live.stack.stop(api)
    events = live.registry.feed(after=after, limit=1000)
    expected_events = [(e.position, e.type) for e in events]
    final = {e.tenant_id: e.position for e in events}  # each tenant's latest position
    for messages in received[1::2]:
        assert [(int(m.id), m.event) for m in messages] == expected_events
    for messages in received[0::2]:
        positions = [int(m.id) for m in messages]
        assert positions == sorted(set(positions))
        latest = {data(m)["tenant_id"]: int(m.id) for m in messages}
        assert latest == {str(k): v for k, v in final.items()}
    print(f"database connections of the API process: {baseline} before, {most} at most")
    assert 0 < most <= MAX_CONNECTIONS


def test_a_client_that_stops_reading_is_cut_and_the_server_memory_stays_bounded(
    live: Live,
) -> None:
    api = live.stack.serve("stall", TENANT_REGISTRY_STREAM_BUFFER_ITEMS="16")
    server = psutil.Process(api.popen.pid)
    sockets: list[socket.socket] = []
    try:
        _warm_up(live, api)
        rss_before = server.memory_info().rss
        after = live.head()
        for path in ("/v1/events/stream", "/v1/events/stream", "/v1/tenants/changes/stream"):
            sockets.append(_stalled_client(api, live.key, f"{path}?after={after}"))
        wait_until(lambda: sum(open_streams(api).values()) == 3, DEADLINE, "3 open streams")
        # Enough to fill the kernel's socket buffers (the send side grows to 4 MiB) and then
        # the stream's own buffer of 16 items.
        blob = "x" * 7000
        for n in range(STALL_ITEMS):
            live.register(f"big-{secrets.token_hex(4)}-{n}", metadata={"blob": blob})
        wait_until(lambda: sum(open_streams(api).values()) == 0, DEADLINE, "streams cut")
        rss_after = server.memory_info().rss
        received = [_drain(s) for s in sockets]
    finally:
        for s in sockets:
            s.close()
        live.stack.stop(api)
    growth = rss_after - rss_before
    print(f"server RSS {rss_before >> 20} MiB -> {rss_after >> 20} MiB")
    assert growth < RSS_GROWTH_BOUND
    for body in received:
        # Cut mid-stream: some items, not all of them, and no end of the chunked body.
        assert 0 < body.count(b"\nid: ") + body.startswith(b"id: ") < STALL_ITEMS
        assert not body.endswith(b"0\r\n\r\n")


def _warm_up(live: Live, api: Process) -> None:
    """One stream through a few items, so the baseline includes what every stream loads."""
    after = live.head()
    tenant = live.register(f"warm-{secrets.token_hex(4)}", metadata={"blob": "x" * 6000})

    async def read() -> Any:
        async with stream(api, live.key, "/v1/events/stream", after=after) as messages:
            (message,) = await take(messages, 1)
            return data(message)

    assert asyncio.run(asyncio.wait_for(read(), DEADLINE))["tenant_id"] == str(tenant.tenant.id)


def _stalled_client(api: Process, key: str, target: str) -> socket.socket:
    """A client that reads the response headers and then nothing (a small receive window);
    a 503 (the shared database server is busy) is retried."""
    for _ in range(10):
        sock = _stalled_attempt(api, key, target)
        if sock is not None:
            return sock
        time.sleep(1)
    msg = f"{target} kept answering 503"
    raise AssertionError(msg)


def _stalled_attempt(api: Process, key: str, target: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE)
    sock.connect(("127.0.0.1", api.port or 0))
    request = f"GET {target} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n\r\n"
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed the connection before answering"
        head += chunk
    if head.startswith(b"HTTP/1.1 503"):
        sock.close()
        return None
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def _drain(sock: socket.socket) -> bytes:
    """Everything the server sent before it closed the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.05)
