"""The stream hub between streams: commits announced while nobody listens cost no query, and
the next first stream is published to from the head on."""

from __future__ import annotations

import asyncio
import secrets

import psycopg
from psycopg import sql

from api.streams.hub import StreamHub
from api.streams.items import Item, Source, render
from common.settings import Settings

DEADLINE = 30.0


class Store:
    """A feed held in memory; its announcements go through PostgreSQL like the real ones."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.head_reads = 0

    def head(self) -> int:
        self.head_reads += 1
        return self.positions[-1] if self.positions else 0

    def page(self, after: int, limit: int) -> list[Item]:
        newer = [p for p in self.positions if p > after][:limit]
        return [render(p, "change", {"position": p}) for p in newer]


async def _until(condition: object) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), DEADLINE)


def test_a_quiet_hub_reads_nothing_and_its_next_stream_starts_at_the_head(
    settings: Settings,
) -> None:
    store, channel = Store(), f"hub_test_{secrets.token_hex(4)}"

    async def scenario() -> tuple[int, int, list[int]]:
        hub = StreamHub(settings, [Source("t", channel, store.head, store.page, 100)])
        notifier = await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True)
        notify = sql.SQL("NOTIFY {}").format(sql.Identifier(channel))
        try:
            hub.unsubscribe(await hub.subscribe("t", lambda _item: True))  # running, then quiet
            reads_when_quiet = store.head_reads
            for position in range(1, 6):
                store.positions.append(position)
                await notifier.execute(notify)
            feed = hub._feeds["t"]  # the announcements reached the hub
            await _until(lambda: feed.stale)
            reads_while_quiet = store.head_reads - reads_when_quiet
            subscription = await hub.subscribe("t", lambda _item: True)
            reads_to_subscribe = store.head_reads - reads_when_quiet - reads_while_quiet
            store.positions.append(6)
            await notifier.execute(notify)
            await asyncio.wait_for(subscription.wakeup.wait(), DEADLINE)
            published = [item.position for item in subscription.take()]
            hub.unsubscribe(subscription)
            return reads_while_quiet, reads_to_subscribe, published
        finally:
            await notifier.close()
            await hub.close()

    reads_while_quiet, reads_to_subscribe, published = asyncio.run(scenario())
    assert reads_while_quiet == 0  # five commits, no query
    assert reads_to_subscribe == 1  # the head, once
    assert published == [6]  # not 1-5 again: those the stream's own catch-up reads
