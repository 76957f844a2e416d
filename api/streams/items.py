"""What a stream sends: items rendered once as whole SSE messages, shared by every client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sse_starlette.event import ServerSentEvent

from api.change_models import change_document
from api.context import ApiContext
from api.representations import dumps, event_document
from common.tables import EVENTS_CHANNEL
from projections.batch import projected_channel

#: Line separator of every message (and of the heartbeat comments).
SEP = "\n"


@dataclass(frozen=True)
class Item:
    """One stream item: its position, its SSE ``event`` name and the encoded message."""

    position: int
    kind: str
    message: bytes


def render(position: int, kind: str, document: Any) -> Item:
    """``id: <position>``, ``event: <kind>``, ``data: <the item's JSON>``."""
    data = dumps(document).decode()
    message = ServerSentEvent(data=data, id=str(position), event=kind, sep=SEP).encode()
    return Item(position, kind, message)


#: Reads the items after a position, at most ``limit`` (blocking: run it in a thread).
Page = Callable[[int, int], list[Item]]


@dataclass(frozen=True)
class Source:
    """Where a stream's items come from and which NOTIFY channel announces new ones."""

    name: str
    channel: str
    head: Callable[[], int]  # items after it are announced on ``channel`` (blocking)
    page: Page  # every item (the hub's live fetch)
    page_size: int


def changes_source(ctx: ApiContext) -> Source:
    """The changes feed: the read table's rows by position; the projector announces batches."""

    def page(after: int, limit: int) -> list[Item]:
        changes = ctx.read_model().changes(after=after, limit=limit)
        return [render(c.position, "change", change_document(c)) for c in changes]

    return Source(
        name="changes",
        channel=projected_channel(ctx.settings),
        head=lambda: ctx.read_model().position(),
        page=page,
        page_size=1000,
    )


def events_page(ctx: ApiContext, types: tuple[str, ...]) -> Page:
    """Pages of the event feed, only ``types`` (all when empty)."""

    def page(after: int, limit: int) -> list[Item]:
        events = ctx.registry().feed(after=after, limit=limit, types=types)
        return [render(e.position, e.type, event_document(e)) for e in events]

    return page


def events_source(ctx: ApiContext) -> Source:
    """The event feed: the store announces every commit on its channel."""
    return Source(
        name="events",
        channel=EVENTS_CHANNEL,
        head=lambda: ctx.registry().head(),
        page=events_page(ctx, ()),
        page_size=500,
    )
