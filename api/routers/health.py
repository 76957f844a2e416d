"""``/healthz``, ``/readyz`` and ``/metrics`` (open, no API key)."""

import logging
from typing import Any

import redis
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from api.models import Liveness, Readiness
from api.problems import INFRASTRUCTURE_ERRORS, ProblemError
from api.routers.common import Ctx, json_response, problems

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

REDIS_TIMEOUT_SECONDS = 1.0


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz() -> Response:
    """The process is alive; checks no dependency."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=problems(503),
    summary="Readiness",
)
def readyz(ctx: Ctx) -> Response:
    """Ready while PostgreSQL answers: 503 `unavailable` otherwise. The body reports Redis
    (down only degrades: commands and reads do not need it) and each projection's lag. Lag
    fails readiness (503 `projection-lagging`) only when `TENANT_REGISTRY_READY_MAX_LAG_S`
    is set and a projection lags more than that many seconds."""
    checks: dict[str, dict[str, Any]] = {"database": _database(ctx)}
    if checks["database"]["ok"]:
        checks["projections"] = _projections(ctx)
    checks["redis"] = _redis(ctx)
    if not checks["database"]["ok"]:
        raise ProblemError(
            503, "unavailable", "not ready: the database cannot be reached", checks=checks
        )
    if not checks["projections"]["ok"]:
        raise ProblemError(
            503,
            "projection-lagging",
            "not ready: the read side lags more than TENANT_REGISTRY_READY_MAX_LAG_S",
            headers={"Retry-After": "1"},
            checks=checks,
        )
    status = "ready" if checks["redis"]["ok"] else "degraded"
    return json_response({"status": status, "checks": checks})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
def metrics(ctx: Ctx) -> Response:
    """Request latency by route template, commands by type and outcome, projection lag."""
    if ctx.gate.is_up:
        try:
            for status in ctx.read_model().projections():
                ctx.metrics.projection_lag_events.labels(status.name).set(status.lag_events)
                ctx.metrics.projection_lag_seconds.labels(status.name).set(status.lag_seconds)
        except INFRASTRUCTURE_ERRORS:
            ctx.gate.trip()
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _database(ctx: Ctx) -> dict[str, Any]:
    if ctx.gate.probe():
        return {"ok": True, "detail": None}
    return {"ok": False, "detail": "unreachable"}


def _projections(ctx: Ctx) -> dict[str, Any]:
    limit = ctx.settings.ready_max_lag_s
    try:
        statuses = ctx.read_model().projections()
    except INFRASTRUCTURE_ERRORS:
        ctx.gate.trip()
        return {"ok": False, "detail": "unreachable", "max_lag_seconds": limit, "lag": []}
    lagging = [s for s in statuses if limit is not None and s.lag_seconds > limit]
    details = ", ".join(
        f"{s.name}: {s.state}, {s.lag_events} events / {s.lag_seconds:.1f} s behind"
        for s in statuses
    )
    lag = [
        {
            "name": s.name,
            "state": s.state,
            "lag_events": s.lag_events,
            "lag_seconds": s.lag_seconds,
        }
        for s in statuses
    ]
    return {"ok": not lagging, "detail": details or None, "max_lag_seconds": limit, "lag": lag}


def _redis(ctx: Ctx) -> dict[str, Any]:
    client = redis.Redis.from_url(
        ctx.settings.redis_url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError:
        return {"ok": False, "detail": "unreachable"}
    finally:
        client.close()
    return {"ok": True, "detail": None}
