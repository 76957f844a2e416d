"""A real ``serve`` and ``project`` on a database of the module's own, and SSE helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from tests.resilience.stack import Process, Stack

#: Every wait is bounded by this; none is expected to come near it.
DEADLINE = 60.0


@dataclass
class Live:
    """The module's stack: a projector, the default API, a key, and a registry in-process."""

    stack: Stack
    api: Process
    key: str
    settings: Settings
    clock: FrozenClock
    registry: TenantRegistry

    def register(self, slug: str, **fields: Any) -> Any:
        return self.registry.register(slug=slug, name=slug.title(), actor="key:test", **fields)

    def head(self) -> int:
        return self.registry.head()


def frozen_now() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@contextlib.asynccontextmanager
async def stream(
    api: Process, key: str, path: str, **params: Any
) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
    """The messages of one stream (headers: pass ``headers=``)."""
    headers = {"Authorization": f"Bearer {key}", **params.pop("headers", {})}
    timeout = httpx.Timeout(DEADLINE, connect=10)
    deadline = asyncio.get_running_loop().time() + DEADLINE
    async with httpx.AsyncClient(base_url=api.url, timeout=timeout) as client:
        while True:
            async with aconnect_sse(client, "GET", path, params=params, headers=headers) as source:
                response = source.response
                if response.status_code == 200:
                    yield source.aiter_sse()
                    return
                body = await response.aread()
                # A loaded shared database server may refuse a connection now and then: a
                # client retries a 503 after its Retry-After, as real ones do.
                if response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(body)
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def take(messages: AsyncIterator[ServerSentEvent], count: int) -> list[ServerSentEvent]:
    """The next ``count`` messages (bounded by :data:`DEADLINE`)."""

    async def collect() -> list[ServerSentEvent]:
        got: list[ServerSentEvent] = []
        async for message in messages:
            if not message.data:
                continue  # a heartbeat comment (httpx-sse reports it with the last id)
            got.append(message)
            if len(got) == count:
                break
        return got

    return await asyncio.wait_for(collect(), DEADLINE)


def data(message: ServerSentEvent) -> Any:
    return json.loads(message.data)
