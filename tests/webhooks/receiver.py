"""A local webhook receiver for the tests: a threaded ``http.server`` on a free port.

It records every request (headers and body) and answers what ``respond`` decides, which may
also block (to catch a worker in the middle of a delivery).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.support.private_pg import free_port


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def document(self) -> Any:
        return orjson.loads(self.body)

    @property
    def position(self) -> int:
        return int(self.document["data"]["position"])


#: Given the request and how many requests came before it, the status to answer.
Respond = Callable[[Received, int], int]


class Receiver:
    """Start with :meth:`start`; ``url`` is where it listens; ``received`` what it got."""

    def __init__(self, respond: Respond | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.respond: Respond = respond or (lambda _r, _n: 200)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                with receiver._lock:
                    count = len(receiver.received)
                    receiver.received.append(request)
                status = receiver.respond(request, count)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def delivered_ok(self) -> list[Received]:
        """Requests answered 2xx (the respond function is deterministic per request)."""
        return self.snapshot()
