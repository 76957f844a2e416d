"""A small Server-Sent Events parser (the WHATWG event-stream format), for lines.

Hand-written rather than a dependency: the format is a few rules, and the client promises to
depend only on httpx and pydantic. A comment line (a heartbeat) yields :data:`HEARTBEAT`, so a
follower can tell a live, idle connection from a dead one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One message: its ``id`` (a position here), ``event`` name and ``data``."""

    id: str | None
    event: str
    data: str


class Heartbeat:
    """A comment line: the server is alive and has nothing new."""


HEARTBEAT = Heartbeat()
Message = ServerSentEvent | Heartbeat


class _Builder:
    def __init__(self) -> None:
        self.data: list[str] = []
        self.event = ""
        self.id: str | None = None

    def feed(self, line: str) -> Message | None:
        """Take one line (without its end); return a message when one is complete."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return HEARTBEAT
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name == "id" and "\0" not in value:
            self.id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self.data:
            self.event = ""
            return None
        message = ServerSentEvent(self.id, self.event or "message", "\n".join(self.data))
        self.data, self.event = [], ""
        return message


def parse(lines: Iterator[str]) -> Iterator[Message]:
    """Messages and heartbeats from the stream's lines."""
    builder = _Builder()
    for line in lines:
        message = builder.feed(line.rstrip("\r\n"))
        if message is not None:
            yield message


async def aparse(lines: AsyncIterator[str]) -> AsyncIterator[Message]:
    """The same, for an async stream of lines."""
    builder = _Builder()
    async for line in lines:
        message = builder.feed(line.rstrip("\r\n"))
        if message is not None:
            yield message
