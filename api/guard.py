"""The API's front door, as plain ASGI: authentication, body limits, media type, last resort.

Every request's headers are bounded (431: uvicorn's default parser has no limit of its own).
For a request that matches a route it checks, in this order: on ``/v1`` the API key (401,
first: a caller without a key learns nothing about its body), the body size (413, from
``Content-Length`` and again while streaming), the body's media type (415), and that the body
is JSON without repeated keys (422: a repeated key is read differently by different parsers,
so an upstream check could pass a value the registry never sees). It keeps the body so the
idempotency fingerprint can hash the bytes the client sent. ``HEAD`` is answered as ``GET``
without a body. A path that exists without the request's method is a 405 whose ``Allow`` lists
every method of the path; other requests that match no route go straight to the router (a
problem 404, with or without a key). Whatever escapes the app becomes a problem response: no
traceback reaches a client; an unexpected error is logged with its traceback and request id.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import ApiContext
from api.keys import ApiKey
from api.problems import ProblemError, to_problem, validation_problem
from common.request_context import current

if TYPE_CHECKING:
    from api.fast import FastRoutes

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
#: Header limits (names and values): generous for any real client, small for the process.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
BODY_SCOPE_KEY = "tenant_registry.body"
API_KEY_SCOPE_KEY = "tenant_registry.api_key"
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
#: Event streams never end: a ``HEAD`` answered as their ``GET`` would hold a stream open.
STREAM_SUFFIX = "/stream"


def _too_large() -> ProblemError:
    return ProblemError(
        413, "payload-too-large", f"request bodies are limited to {MAX_BODY_BYTES} bytes"
    )


def _check_headers(scope: Scope) -> None:
    headers = scope.get("headers", [])
    size = sum(len(name) + len(value) for name, value in headers)
    if size > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
        raise ProblemError(
            431,
            "request-header-fields-too-large",
            f"headers are limited to {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes",
        )


class _RepeatedKey(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        msg = "repeated key"
        raise _RepeatedKey(msg)
    return document


def _check_json(body: bytes) -> None:
    """422 for a body that is not JSON (bad UTF-8, too deep, digits past Python's limit, …)
    or that repeats a key; the route parses it again, knowing it is sound."""
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey:
        raise validation_problem([("body", "repeats a key in an object")]) from None
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise validation_problem([("body", "is not valid JSON")]) from None
    context = current()
    if context is not None:
        context.add_sensitive(document)  # what the client sent never reaches a log line


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestGuard:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        ctx: ApiContext,
        routes: list[BaseRoute],
        fast: FastRoutes | None = None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.routes = routes
        #: The hottest routes, answered here when the request is plain (``api.fast``).
        self.fast = fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        if scope["method"] == "HEAD" and not scope["path"].endswith(STREAM_SUFFIX):
            scope, send = _head_as_get(scope, send)

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            _check_headers(scope)
            route, params = self._match(scope)
            if route is None:
                self._refuse_method(scope)
            else:
                scope["route"] = route  # the metrics label even requests refused here
                template = getattr(route, "path", "")
                context = current()
                if context is not None:
                    context.route = template
                # Who asks comes first: without a key, nothing about the body is answered.
                key = None
                if template.startswith("/v1/"):
                    key = await self._authenticate(scope)
                    scope[API_KEY_SCOPE_KEY] = key
                    if context is not None:
                        context.key_name = key.name
                receive = await self._read_body(scope, receive)
                if key is not None and self.fast is not None:
                    call = self.fast.call(scope, receive, template, params, key)
                    if call is not None:
                        response = await self.fast.run(call)
                        await response(scope, receive, tracking_send)
                        return
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the last resort is the point
            if started:
                log.warning("response interrupted", extra={"error": type(exc).__name__})
                return
            problem = to_problem(exc)
            if problem.kind == "unavailable":
                self.ctx.gate.trip()
            if problem.kind == "internal-error":
                log.exception("request failed", exc_info=exc, extra={"status": problem.status})
            elif problem.status >= 500:
                log.warning(
                    "request failed",
                    extra={"status": problem.status, "error": type(exc).__name__},
                )
            await problem.response()(scope, receive, send)

    def _refuse_method(self, scope: Scope) -> None:
        """405 with every method of the path in ``Allow`` (the router names only the first
        route's)."""
        allowed: set[str] = set()
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.PARTIAL:
                allowed.update(getattr(route, "methods", None) or ())
        if allowed:
            if "GET" in allowed and not scope["path"].endswith(STREAM_SUFFIX):
                allowed.add("HEAD")
            raise ProblemError(
                405,
                "method-not-allowed",
                "the route does not accept this method",
                headers={"Allow": ", ".join(sorted(allowed))},
            )

    def _match(self, scope: Scope) -> tuple[BaseRoute | None, dict[str, Any]]:
        """The route that takes this request, and its path parameters."""
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child.get("path_params", {})
        return None, {}

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] not in _BODY_METHODS:
            return receive
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large()
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and not _is_json(headers.get("content-type")):
            raise ProblemError(415, "unsupported-media-type", "send the body as application/json")
        if body:
            _check_json(body)
        scope[BODY_SCOPE_KEY] = body
        return _replay(body, receive)

    async def _authenticate(self, scope: Scope) -> ApiKey:
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, presented = authorization.partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise ProblemError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
        known, key = self.ctx.authenticate_cached(presented)
        if not known:
            key = await run_in_threadpool(self.ctx.authenticate, presented)
        if key is None:
            raise ProblemError(401, "unauthorized", "the API key is unknown or revoked")
        return key


def _head_as_get(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """``HEAD`` answered as ``GET`` (RFC 9110 §9.3.2) with the body left out; the headers,
    ``Content-Length`` included, stay those of the ``GET``. The caller's scope keeps ``HEAD``
    (the access log and metrics report what was asked)."""

    async def headless_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return {**scope, "method": "GET"}, headless_send


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: Any = await receive()
        return dict(message)

    return replay
