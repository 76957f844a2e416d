"""The FastAPI application factory.

``create_app(settings)`` builds an app that has not connected to anything yet: the pools open
on the first request that needs them, so ``serve`` starts (and answers 503) while PostgreSQL
is down. ``uvicorn --factory api.app:app_factory`` builds one per worker process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.responses import RedirectResponse

from api.access import RequestIdMiddleware
from api.context import ApiContext
from api.docs import install_docs
from api.fast import FastRoutes
from api.guard import BODY_SCOPE_KEY, RequestGuard
from api.metrics import MetricsMiddleware
from api.problems import PROBLEM_JSON, install_handlers
from api.routers import (
    api_keys,
    changes,
    console,
    events,
    health,
    stats,
    streams,
    tenants,
    webhooks,
)
from api.routers.common import camel_case_id
from api.streams.hub import StreamHub
from api.streams.items import changes_source, events_source
from application.registry import TenantRegistry
from common.clock import Clock
from common.logs import configure_logging
from common.metrics import mark_process_dead
from common.settings import Settings, get_settings
from projections.queries import ReadModel

DESCRIPTION = """\
The system of record for the tenants of the SaaS: register them, move them through their
lifecycle, read them back, and follow every change as an event.

* Every `/v1` route needs `Authorization: Bearer <api key>` with the right scope:
  `tenants:read`, `tenants:write` (register, lifecycle, profile), `tenants:delete` (delete,
  restore) or `admin`.
* Commands answer with the tenant as the write model left it, its `ETag` and the
  `X-Event-Position` to pass as `min_position` to a read that must see the change.
* `If-Match: "<version>"` pins a command to a version (else 412). `Idempotency-Key` replays
  the first response for 24 h.
* Errors are RFC 9457 `application/problem+json`; the token is the last segment of `type`.
"""

TAGS = [
    {"name": "tenants", "description": "Tenants, their lifecycle and history."},
    {"name": "events", "description": "The global event feed."},
    {"name": "changes", "description": "The changes feed and live streams (SPEC §9)."},
    {"name": "stats", "description": "Counts and read-side health."},
    {"name": "webhooks", "description": "Signed webhook deliveries of the event feed (admin)."},
    {"name": "health", "description": "Liveness, readiness, metrics (no API key)."},
    {"name": "api-keys", "description": "API keys (scope `admin`; the caller's own: any key)."},
]


class RegistryApi(FastAPI):
    """FastAPI whose OpenAPI document declares error bodies as ``application/problem+json``."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    _problem_media_type(operation.get("responses", {}))
                    _common_headers(operation.get("responses", {}))
            self.openapi_schema = schema
        return self.openapi_schema


def _problem_media_type(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        content = response.get("content", {})
        if status[:1] in "45" and "application/json" in content:
            content[PROBLEM_JSON] = content.pop("application/json")


def _common_headers(responses: dict[str, Any]) -> None:
    """What every answer carries (``X-Request-ID``) and every 503 (``Retry-After``)."""
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = REQUEST_ID_DOC
        if status == "503":
            headers["Retry-After"] = RETRY_AFTER_DOC


REQUEST_ID_DOC = {
    "description": "The request's id: the caller's `X-Request-ID` when it is 1-64 characters "
    "of `[A-Za-z0-9._-]`, else a new one; problems quote it as `instance`.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
}
RETRY_AFTER_DOC = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    registry: TenantRegistry | None = None,
    read_model: ReadModel | None = None,
    *,
    fast_routes: bool = True,
) -> FastAPI:
    """Build the HTTP API. ``registry`` and ``read_model``, if given, stay the caller's.

    ``fast_routes=False`` sends every request through FastAPI (``api.fast``: the tests compare
    both ways)."""
    ctx = ApiContext(settings or get_settings(), clock, registry, read_model)
    fast = FastRoutes(ctx, body_key=BODY_SCOPE_KEY) if fast_routes else None
    hub = StreamHub(
        ctx.settings,
        [changes_source(ctx), events_source(ctx)],
        on_count=lambda stream, count: ctx.metrics.streams.labels(stream).set(count),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.close()
        if fast is not None:
            fast.close()
        ctx.close()
        mark_process_dead(os.getpid())  # this worker's live gauges leave the scrape

    app = RegistryApi(
        title="Tenant Registry",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        redoc_url=None,
        docs_url=None,  # served by api.docs from local assets
        # A trailing-slash redirect would take its host from the request (Host: evil.example).
        redirect_slashes=False,
        generate_unique_id_function=camel_case_id,
    )
    app.state.ctx = ctx
    app.state.streams = hub
    install_handlers(app, ctx.gate.trip)
    install_docs(app)
    # ``changes`` first: its paths would otherwise match ``/v1/tenants/{tenant_id}``.
    routers = [
        module.router
        for module in (changes, streams, tenants, events, stats, health, api_keys, webhooks)
    ]
    for router in routers:
        app.include_router(router)
    console.mount(app)
    # The app makes no slash redirects (they took their host from the request): this one is
    # explicit, and relative.
    app.add_api_route("/console", _to_console, methods=["GET"], include_in_schema=False)
    # The guard matches against the routers' own routes (the app's router nests them).
    routes = [route for router in routers for route in router.routes]
    # Added last = runs first: metrics time everything the guard answers too.
    app.add_middleware(RequestGuard, ctx=ctx, routes=routes, fast=fast)
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries the id
    return app


async def _to_console() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


def app_factory() -> FastAPI:
    """The app for ``uvicorn --factory`` (settings from the environment).

    With ``--workers N`` uvicorn spawns fresh interpreters that never ran the CLI's logging
    setup: each configures its own from ``TENANT_REGISTRY_LOG_LEVEL``."""
    configure_logging(os.environ.get("TENANT_REGISTRY_LOG_LEVEL", "INFO").upper())
    return create_app(get_settings())
