"""The hottest routes answered without FastAPI's per-request machinery.

py-spy (``--gil``) of an API worker under ``bench/lua/commands.lua``: of the samples that held
the GIL, FastAPI's dependency resolution took 15 % and matching the route a second time 8 %
(the guard has matched it already), more than the registry's own work (7.5 %).

For a request of the common shape (a registration, a lifecycle command, or
``GET /v1/tenants/{id}``, with a canonical id, a key that holds the route's scope, no query
string, at most one ``If-Match`` and one valid ``Idempotency-Key``, and a body the route's
model accepts, or none where the route takes none; or a page of ``GET /v1/tenants`` whose
query holds at most ``status``, ``limit`` and ``cursor``, once each, in their plain forms)
the guard calls the very function the FastAPI route calls, with the values FastAPI would have
given it. Anything else goes to the FastAPI route unchanged, so every refusal (422, 403, …)
and the OpenAPI document stay FastAPI's. ``tests/api/test_fast_routes.py`` sends the same
requests both ways and compares the answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, get_args
from urllib.parse import parse_qsl
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from api.context import ApiContext
from api.keys import READ, WRITE, ApiKey
from api.models import CommandRequest, RegisterRequest, StatusName
from api.routers import tenants
from domain.lifecycle import Command

M = TypeVar("M", bound=BaseModel)
#: A route's work, ready to run on a worker thread.
Call = Callable[[], Response]

_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IF_MATCH = b"if-match"
_IDEMPOTENCY_KEY = b"idempotency-key"
#: ``Idempotency-Key``'s bounds as the route declares them (``api.routers.common``).
_KEY_LENGTH = range(1, 256)
#: The list's parameters the fast path takes (its bounds are the route's).
_LIST_PARAMETERS = frozenset(("status", "limit", "cursor"))
_STATUSES = frozenset(get_args(StatusName))
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
#: As many threads as anyio gives FastAPI's synchronous routes by default.
THREADS = 40


class FastRoutes:
    """Recognises the requests it can answer directly; see the module docstring."""

    def __init__(self, ctx: ApiContext, *, body_key: str) -> None:
        self.ctx = ctx
        self.body_key = body_key
        #: The calls run here rather than through anyio's ``to_thread``: its capacity limiter
        #: and cancel scope were 22 % of the GIL samples of a worker under ``commands.lua``.
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="route")
        prefix = tenants.router.prefix
        self._register = prefix
        self._get = f"{prefix}/{{tenant_id}}"
        self._commands = {
            f"{prefix}/{{tenant_id}}/{command.value}": command
            for command in tenants.LIFECYCLE_COMMANDS
        }

    async def run(self, call: Call) -> Response:
        """Run ``call`` on a worker thread, in this request's context (its request id)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._threads, context.run, call)

    def close(self) -> None:
        """Stop the worker threads (after the server has stopped taking requests)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    def call(
        self, scope: Scope, receive: Receive, template: str, params: dict[str, Any], key: ApiKey
    ) -> Call | None:
        """The route's work for this request, or None to let FastAPI answer it."""
        method = scope["method"]
        if method == "GET" and template == self._register:
            return self._list(scope.get("query_string", b""), key)
        if scope.get("query_string"):
            return None
        if method == "POST" and template == self._register:
            return self._registration(scope, receive, key)
        raw_id = params.get("tenant_id")
        if not isinstance(raw_id, str) or not _CANONICAL_UUID.match(raw_id):
            return None
        tenant_id = UUID(raw_id)
        if method == "GET" and template == self._get:
            return self._read(tenant_id, key)
        command = self._commands.get(template)
        if method == "POST" and command is not None:
            return self._command(scope, receive, command, tenant_id, key)
        return None

    def _read(self, tenant_id: UUID, key: ApiKey) -> Call | None:
        if not key.allows(READ):
            return None
        ctx = self.ctx
        return lambda: tenants.get_tenant(tenant_id=tenant_id, ctx=ctx, _key=key, min_position=None)

    def _list(self, query_string: bytes, key: ApiKey) -> Call | None:
        if not key.allows(READ):
            return None
        query = _list_query(query_string)
        if query is None:
            return None
        status, limit, cursor = query
        ctx = self.ctx
        return lambda: tenants.list_tenants(
            ctx=ctx,
            _key=key,
            status=status,
            plan=None,
            q=None,
            include_deleted=False,
            limit=limit,
            cursor=cursor,
            min_position=None,
        )

    def _registration(self, scope: Scope, receive: Receive, key: ApiKey) -> Call | None:
        headers = _headers(scope)
        body = _model(RegisterRequest, scope.get(self.body_key, b""))
        if not key.allows(WRITE) or headers is None or body is None:
            return None
        request, ctx = Request(scope, receive), self.ctx
        idempotency_key = headers.get(_IDEMPOTENCY_KEY)
        return lambda: tenants.register_tenant(
            body=body, request=request, ctx=ctx, key=key, idempotency_key=idempotency_key
        )

    def _command(
        self, scope: Scope, receive: Receive, command: Command, tenant_id: UUID, key: ApiKey
    ) -> Call | None:
        headers = _headers(scope)
        raw = scope.get(self.body_key, b"")
        body = _model(CommandRequest, raw)  # the body is optional here
        if (
            not key.allows(tenants.command_scope(command))
            or headers is None
            or (raw and body is None)
        ):
            return None
        request, ctx = Request(scope, receive), self.ctx
        return lambda: tenants.run_lifecycle(
            command,
            tenant_id,
            request,
            ctx,
            key,
            body=body,
            if_match=headers.get(_IF_MATCH),
            idempotency_key=headers.get(_IDEMPOTENCY_KEY),
        )


def _list_query(query_string: bytes) -> tuple[Any, int, str | None] | None:
    """``status``, ``limit`` and ``cursor`` of a list request (parsed as Starlette does), or
    None for anything else: another parameter, a repeated one, a status or limit FastAPI
    would refuse or read differently (``limit=050``, ``+5``), a cursor over its length."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in _LIST_PARAMETERS or name in found:
            return None
        found[name] = value
    status = found.get("status")
    if status is not None and status not in _STATUSES:
        return None
    limit = found.get("limit", "50")
    if not _LIMIT.fullmatch(limit) or int(limit) > tenants.MAX_PAGE:
        return None
    cursor = found.get("cursor")
    if cursor is not None and len(cursor) > tenants.MAX_CURSOR:
        return None
    return status, int(limit), cursor


def _model(model: type[M], raw: bytes) -> M | None:
    """The body as ``model``, or None when it is empty or the model refuses it (FastAPI then
    answers, with its own error). orjson refuses some documents Python's ``json`` reads (NaN,
    lone surrogates, integers past 64 bits): those go to FastAPI too."""
    if not raw:
        return None
    try:
        return model.model_validate(orjson.loads(raw))
    except (ValidationError, orjson.JSONDecodeError):
        return None


def _headers(scope: Scope) -> dict[bytes, str] | None:
    """``If-Match`` and ``Idempotency-Key`` (as Starlette decodes them), or None when one is
    repeated or the key is out of the route's bounds (FastAPI answers those)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in (_IF_MATCH, _IDEMPOTENCY_KEY):
            if name in found:
                return None
            found[name] = value.decode("latin-1")
    key = found.get(_IDEMPOTENCY_KEY)
    if key is not None and len(key) not in _KEY_LENGTH:
        return None
    return found
