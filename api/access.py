"""Request ids and the access log, as plain ASGI (the outermost layer: it sees every answer).

Each request gets an id (SPEC §11): the caller's ``X-Request-ID`` when it is 1-64 characters of
``[A-Za-z0-9._-]``, else a new one. It is kept in ``request.state.request_id`` (the command
path records it as the events' ``correlation_id``) and in a context variable (every log line
and problem ``instance`` of the request carries it), and sent back on every response: problems,
404s and the guard's refusals too. When the response is done, one access line: method, route
template (never the path's values or the query string), status, duration, key name, request id.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.request_context import accepted_request_id, request_context

log = logging.getLogger("tenant_registry.access")

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED_ROUTE = "unmatched"


class RequestIdMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with request_context(request_id) as context:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": context.route or UNMATCHED_ROUTE,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "key": context.key_name,
                    },
                )
