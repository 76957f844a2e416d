"""One database listener per API process, fanning new items out to every open stream.

The listener is a single asyncio connection that LISTENs on every source's channel. A
notification marks its source dirty; one fetch task per source then reads what is new (a page
at a time, on a pooled connection borrowed by a thread for the length of the query) and
offers each item, encoded once, to every subscription of that source. So a commit costs one
query whatever the number of streams, and no stream holds a connection or a thread.

A subscription buffers at most ``stream_buffer_items`` items. While its stream is still
catching up an overflow only means "read the feed again from where you are"; once live, an
overflow means the client stopped reading, and the stream is dropped (the client resumes
with ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread
import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from api.streams.items import Item, Page, Source
from common.settings import Settings

log = logging.getLogger(__name__)

#: How long a new stream waits for the listener to come up before it answers 503.
READY_TIMEOUT = 5.0
#: At most this many catch-up pages are read at once per process (each borrows a pooled
#: connection and a thread for the length of one query).
CATCH_UP_SLOTS = 2
#: A quiet listener checks its connection this often (a dead peer never says so).
LISTEN_CHECK_SECONDS = 10.0


class TooManyStreams(Exception):
    """The process serves as many streams as ``TENANT_REGISTRY_MAX_STREAMS`` allows."""


class StreamsUnavailable(Exception):
    """The listener cannot reach the database."""


@dataclass(eq=False)
class Subscription:
    """One stream's place in the fan-out: a bounded buffer of items and its flags."""

    source: str
    accepts: Callable[[Item], bool]
    limit: int
    buffer: deque[Item] = field(default_factory=deque)
    live: bool = False  # caught up: an overflow now drops the stream
    overflowed: bool = False  # while catching up: items were discarded, read the feed again
    closed: bool = False  # the process shuts down: end the stream cleanly
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, items: list[Item]) -> bool:
        """Buffer the items this stream wants; False once it must be dropped."""
        for item in items:
            if not self.accepts(item):
                continue
            if len(self.buffer) >= self.limit:
                if self.live:
                    self.dropped.set()
                    return False
                self.buffer.clear()
                self.overflowed = True
            self.buffer.append(item)
        self.wakeup.set()
        return True

    def take(self) -> list[Item]:
        """Everything buffered so far."""
        items = list(self.buffer)
        self.buffer.clear()
        self.wakeup.clear()
        return items

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


@dataclass(eq=False)
class _Feed:
    source: Source
    last: int = 0
    #: Commits were announced while nobody listened: ``last`` may be behind the head.
    stale: bool = False
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    subscriptions: set[Subscription] = field(default_factory=set)


class StreamHub:
    """The process's listener and its subscriptions (asyncio: one event loop)."""

    def __init__(
        self,
        settings: Settings,
        sources: list[Source],
        on_count: Callable[[str, int], None] = lambda _source, _count: None,
    ) -> None:
        self.settings = settings
        self._feeds = {s.name: _Feed(s) for s in sources}
        self._by_channel = {s.channel: self._feeds[s.name] for s in sources}
        self._on_count = on_count
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self.catch_up_slots = asyncio.Semaphore(CATCH_UP_SLOTS)

    @property
    def count(self) -> int:
        """Open streams in this process."""
        return self._count

    def page(self, source: str) -> Page:
        """How a stream of ``source`` reads its catch-up pages."""
        return self._feeds[source].source.page

    def page_size(self, source: str) -> int:
        """The page size of ``source``."""
        return self._feeds[source].source.page_size

    def full(self) -> bool:
        """Whether the process already serves ``max_streams`` streams."""
        return self._count >= self.settings.max_streams

    async def subscribe(self, source: str, accepts: Callable[[Item], bool]) -> Subscription:
        """A new subscription to ``source``: every item published from now on is offered.

        :class:`TooManyStreams` when the process serves ``max_streams`` already (the place
        is taken before the first await, so concurrent requests cannot overshoot).
        """
        if self.full():
            raise TooManyStreams
        self._count += 1
        feed = self._feeds[source]
        try:
            await self._ensure_running()
            if feed.stale and not feed.subscriptions:
                # The first stream after a quiet spell: publish from the head on. What
                # committed before it, the stream's own catch-up reads.
                try:
                    head = await anyio.to_thread.run_sync(feed.source.head)
                except (psycopg.Error, PersistenceError, OSError) as exc:
                    msg = "the stream listener cannot reach the database"
                    raise StreamsUnavailable(msg) from exc
                feed.last, feed.stale = max(feed.last, head), False
        except BaseException:
            self._count -= 1
            raise
        subscription = Subscription(source, accepts, self.settings.stream_buffer_items)
        feed.subscriptions.add(subscription)
        self._on_count(source, len(feed.subscriptions))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (its stream ended)."""
        feed = self._feeds[subscription.source]
        if subscription in feed.subscriptions:
            feed.subscriptions.discard(subscription)
            self._count -= 1
            self._on_count(subscription.source, len(feed.subscriptions))

    async def close(self) -> None:
        """End every stream cleanly and stop listening."""
        for feed in self._feeds.values():
            for subscription in list(feed.subscriptions):
                subscription.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop = None

    # ---- the listener and the fetchers ------------------------------------------------------

    async def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # First stream, or a new event loop (a test client's): start on this one.
            self._loop = loop
            self._ready = asyncio.Event()
            self.catch_up_slots = asyncio.Semaphore(CATCH_UP_SLOTS)
            self._tasks = [loop.create_task(self._listen(), name="streams-listener")]
            self._tasks += [
                loop.create_task(self._follow(feed), name=f"streams-{name}")
                for name, feed in self._feeds.items()
            ]
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            msg = "the stream listener cannot reach the database"
            raise StreamsUnavailable(msg) from None

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen_once()
            except (psycopg.Error, OSError) as exc:
                self._ready.clear()
                log.warning("stream listener lost the database", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.1

    async def _listen_once(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self.settings.database_url, autocommit=True, connect_timeout=5
        )
        async with conn:
            for channel in self._by_channel:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # Listening now: whatever commits from here on is announced to us.
            if not self._ready.is_set():
                for feed in self._feeds.values():
                    if not feed.subscriptions:
                        feed.last = await anyio.to_thread.run_sync(feed.source.head)
                        feed.stale = False
            for feed in self._feeds.values():
                feed.dirty.set()  # anything announced while we were away
            self._ready.set()
            while True:
                async for notify in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                    announced = self._by_channel.get(notify.channel)
                    if announced is not None:
                        announced.dirty.set()
                await conn.execute("SELECT 1")

    async def _follow(self, feed: _Feed) -> None:
        source = feed.source
        while True:
            await feed.dirty.wait()
            feed.dirty.clear()
            try:
                if not feed.subscriptions:
                    # Nobody to tell: no query either (every commit would cost one, for the
                    # life of the process); the next first subscriber reads the head.
                    feed.stale = True
                    continue
                while True:
                    items = await anyio.to_thread.run_sync(source.page, feed.last, source.page_size)
                    if items:
                        feed.last = items[-1].position
                        self._publish(feed, items)
                    if len(items) < source.page_size:
                        break
            except Exception as exc:  # the database went away: the listener reconnects
                log.warning("stream fetch failed", extra={"stream": source.name, "error": str(exc)})
                await asyncio.sleep(1.0)
                feed.dirty.set()

    def _publish(self, feed: _Feed, items: list[Item]) -> None:
        for subscription in list(feed.subscriptions):
            if not subscription.offer(items):
                log.info(
                    "stream dropped: its client stopped reading",
                    extra={"stream": feed.source.name, "buffered": len(subscription.buffer)},
                )
                self.unsubscribe(subscription)
