"""``/v1/tenants/changes/stream`` and ``/v1/events/stream`` on a real ``serve`` process."""

from __future__ import annotations

import asyncio
import secrets
import signal
from datetime import timedelta
from typing import Any

import httpx
import pytest

from domain.lifecycle import Command
from tests.changes.live import DEADLINE, Live, data, stream, take


def slug() -> str:
    return f"s-{secrets.token_hex(4)}"


def test_changes_stream_catches_up_then_follows(live: Live) -> None:
    after = live.head()
    first = live.register(slug()).tenant
    second = live.register(slug()).tenant

    async def scenario() -> list[Any]:
        async with stream(live.api, live.key, "/v1/tenants/changes/stream", after=after) as sse:
            caught_up = await take(sse, 2)
            await asyncio.to_thread(live.registry.run, Command.ACTIVATE, first.id, actor="key:test")
            return [*caught_up, *await take(sse, 1)]

    messages = asyncio.run(scenario())
    assert [m.event for m in messages] == ["change"] * 3
    items = [data(m) for m in messages]
    assert [i["tenant_id"] for i in items] == [str(first.id), str(second.id), str(first.id)]
    assert [int(m.id) for m in messages] == [i["position"] for i in items]
    assert items[0]["position"] < items[1]["position"] < items[2]["position"]
    assert items[2]["tenant"]["status"] == "active"
    assert items[2]["tenant"]["version"] == 2


def test_last_event_id_takes_precedence_over_after(live: Live) -> None:
    after = live.head()
    tenants = [live.register(slug()).tenant for _ in range(3)]

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with stream(live.api, live.key, "/v1/tenants/changes/stream", after=after) as sse:
            first = await take(sse, 3)
        resume = {"Last-Event-ID": first[0].id}
        async with stream(
            live.api, live.key, "/v1/tenants/changes/stream", after=0, headers=resume
        ) as sse:
            resumed = await take(sse, 2)
        return first, resumed

    first, resumed = asyncio.run(scenario())
    assert [m.id for m in resumed] == [m.id for m in first[1:]]
    assert [data(m)["tenant_id"] for m in resumed] == [str(t.id) for t in tenants[1:]]


def test_events_stream_sends_only_the_requested_types(live: Live) -> None:
    after = live.head()
    tenant = live.register(slug()).tenant
    live.registry.run(Command.ACTIVATE, tenant.id, actor="key:test")
    wanted = {"type": ["TenantPaused", "TenantActivated"]}

    async def scenario() -> list[Any]:
        async with stream(live.api, live.key, "/v1/events/stream", after=after, **wanted) as sse:
            caught_up = await take(sse, 1)
            for name in (Command.PAUSE, Command.CANCEL, Command.REACTIVATE, Command.PAUSE):
                await asyncio.to_thread(live.registry.run, name, tenant.id, actor="key:test")
            return [*caught_up, *await take(sse, 2)]

    messages = asyncio.run(scenario())
    assert [m.event for m in messages] == ["TenantActivated", "TenantPaused", "TenantPaused"]
    assert [data(m)["version"] for m in messages] == [2, 3, 6]
    assert all(data(m)["tenant_id"] == str(tenant.id) for m in messages)


def test_purge_item_arrives_and_the_tenants_earlier_items_are_gone(live: Live) -> None:
    after = live.head()
    doomed = live.register(slug(), contact_email="zq9@doomed.example").tenant
    live.registry.run(Command.CANCEL, doomed.id, actor="key:test")
    live.registry.run(Command.DELETE, doomed.id, actor="key:test")

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with stream(live.api, live.key, "/v1/tenants/changes/stream", after=after) as sse:
            before = await take(sse, 1)
            live.clock.advance(timedelta(days=live.settings.retention_days + 1))
            assert await asyncio.to_thread(live.registry.purge, doomed.id) == "changed"
            purged = await take(sse, 1)
        async with stream(live.api, live.key, "/v1/tenants/changes/stream", after=after) as sse:
            replay = await take(sse, 1)
        return [*before, *purged], replay

    messages, replay = asyncio.run(scenario())
    deleted, purge_item = (data(m) for m in messages)
    assert deleted["tenant"]["deleted_at"] is not None
    assert purge_item["tenant"] is None
    assert purge_item["tenant_id"] == str(doomed.id)
    assert purge_item["purged_at"] is not None
    assert purge_item["position"] > deleted["position"]
    # From the same place, only the purge item is left of the tenant.
    assert [data(m) for m in replay] == [purge_item]
    assert "zq9@doomed.example" not in replay[0].data


def test_idle_streams_get_heartbeat_comments(live: Live) -> None:
    async def scenario() -> list[str]:
        headers = {"Authorization": f"Bearer {live.key}"}
        async with (
            httpx.AsyncClient(base_url=live.api.url, timeout=DEADLINE) as client,
            client.stream(
                "GET", "/v1/events/stream", params={"after": live.head()}, headers=headers
            ) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            return [await asyncio.wait_for(anext(lines), DEADLINE) for _ in range(2)]

    lines = asyncio.run(scenario())
    assert any(line.startswith(":") for line in lines)


@pytest.mark.parametrize("path", ["/v1/tenants/changes/stream", "/v1/events/stream"])
def test_stream_refuses_a_bad_last_event_id_and_a_missing_key(live: Live, path: str) -> None:
    headers = {"Authorization": f"Bearer {live.key}", "Last-Event-ID": "twelve"}
    response = httpx.get(f"{live.api.url}{path}", headers=headers, timeout=DEADLINE)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    response = httpx.get(f"{live.api.url}{path}", timeout=DEADLINE)
    assert response.status_code == 401


def test_streams_beyond_the_cap_get_503_with_retry_after(live: Live) -> None:
    capped = live.stack.serve("capped", TENANT_REGISTRY_MAX_STREAMS="2")
    try:

        async def scenario() -> httpx.Response:
            path = "/v1/tenants/changes/stream"
            headers = {"Authorization": f"Bearer {live.key}"}
            async with (
                stream(capped, live.key, path, after=live.head()),
                stream(capped, live.key, "/v1/events/stream", after=live.head()),
                httpx.AsyncClient(base_url=capped.url, timeout=DEADLINE) as client,
            ):
                return await client.get(path, headers=headers)

        refused = asyncio.run(scenario())
    finally:
        live.stack.stop(capped)
    assert refused.status_code == 503
    assert refused.headers["retry-after"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/too-many-streams")


def test_shutdown_ends_open_streams_and_the_server_exits(live: Live) -> None:
    doomed = live.stack.serve("short-lived")

    async def scenario() -> list[str]:
        headers = {"Authorization": f"Bearer {live.key}"}
        async with (
            httpx.AsyncClient(base_url=doomed.url, timeout=DEADLINE) as client,
            client.stream(
                "GET", "/v1/events/stream", params={"after": live.head()}, headers=headers
            ) as response,
        ):
            await asyncio.to_thread(doomed.popen.terminate)
            # The body ends (a complete chunked response) instead of hanging.
            return [line async for line in response.aiter_lines()]

    lines = asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    # uvicorn re-raises the signal once it has shut down gracefully.
    assert doomed.popen.wait(DEADLINE) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in doomed.log.read_text()
    assert all(line == "" or line.startswith(":") for line in lines)
