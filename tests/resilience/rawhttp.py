"""HTTP/1.1 over a plain socket: requests no well-behaved client library would send.

Invalid UTF-8, NUL bytes and oversized or duplicated headers must reach the server exactly as
written, so the request is bytes and so is the answer. Each request has a connection of its own
(``Connection: close``); the reply is read until the server closes.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class RawResponse:
    """A parsed reply (``status`` 0: the server closed without answering)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def problem(self) -> dict[str, object]:
        """The problem document ({} if the body is not a JSON object)."""
        try:
            document = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return document if isinstance(document, dict) else {}


def request(port: int, head: bytes, body: bytes = b"", *, timeout: float = 20) -> RawResponse:
    """Send ``head`` (request line and headers, without the blank line) and ``body``.

    ``Host`` and ``Connection: close`` are added; ``Content-Length`` too when ``body`` is given
    and ``head`` does not declare one (or a ``Transfer-Encoding``).
    """
    lines = head.rstrip(b"\r\n") + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    lowered = head.lower()
    if body and b"content-length:" not in lowered and b"transfer-encoding:" not in lowered:
        lines += b"Content-Length: %d\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may refuse before reading everything; its answer still counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(lines + b"\r\n" + body)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return parse(received)


def parse(received: bytes) -> RawResponse:
    """Status, headers (lower-case names) and body of one HTTP/1.1 reply."""
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return RawResponse(0)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return RawResponse(int(parts[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out
