"""A stream's response: catch-up, then live, as Server-Sent Events (``sse-starlette``).

``sse-starlette`` sends the heartbeat comments, notices the client leaving and ends streams
when uvicorn shuts down. Added here: the stream ends at once when the hub drops it (its
client stopped reading, so the response is stuck in ``send``), and its place is given back
whatever way it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from api.streams.hub import StreamHub, Subscription
from api.streams.items import SEP, Page

#: How long a stream may take to send what it has when the server shuts down.
SHUTDOWN_GRACE_SECONDS = 2.0


class StreamDropped(Exception):
    """The client stopped reading and its buffer filled: the connection is closed."""


class StreamResponse(EventSourceResponse):
    """SSE of one subscription: what ``page`` has after ``after``, then the live items."""

    def __init__(
        self,
        hub: StreamHub,
        subscription: Subscription,
        *,
        page: Page,
        page_size: int,
        after: int,
        heartbeat: float,
    ) -> None:
        self._hub = hub
        self._subscription = subscription
        self._shutdown = anyio.Event()
        super().__init__(
            _items(hub, subscription, page, page_size, after),
            ping=heartbeat,
            sep=SEP,
            headers={"Cache-Control": "no-store"},
            shutdown_event=self._shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def respond() -> None:
                    await EventSourceResponse.__call__(self, scope, receive, send)
                    group.cancel_scope.cancel()

                async def end_on_shutdown() -> None:
                    await self._shutdown.wait()
                    self._subscription.close()  # the stream ends with a complete response

                group.start_soon(respond)
                group.start_soon(end_on_shutdown)
                await self._subscription.dropped.wait()
                group.cancel_scope.cancel()
            if self._subscription.dropped.is_set():
                # Leaves the response unfinished: the server closes the connection.
                raise StreamDropped
        finally:
            self._hub.unsubscribe(self._subscription)


async def _items(
    hub: StreamHub, subscription: Subscription, page: Page, page_size: int, after: int
) -> AsyncIterator[bytes]:
    sent = after
    # Catch up from the feed. Items the hub offers meanwhile wait in the buffer; if it
    # overflows, the next page covers them.
    while not subscription.closed:
        async with hub.catch_up_slots:
            items = await anyio.to_thread.run_sync(page, sent, page_size)
        for item in items:
            yield item.message
            sent = item.position
        if subscription.overflowed:
            subscription.take()
            subscription.overflowed = False
            continue
        if len(items) < page_size:
            break
    subscription.live = True
    while not subscription.closed:
        await subscription.wakeup.wait()
        for item in subscription.take():
            if item.position > sent:  # already sent by the catch-up (or compacted past it)
                yield item.message
                sent = item.position
