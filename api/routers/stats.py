"""``/v1/stats`` and ``/v1/projections``: counts and read-side health."""

from dataclasses import asdict

from fastapi import APIRouter
from starlette.responses import Response

from api.models import Projections, Stats
from api.routers.common import (
    READ_ERRORS,
    STATUS_ERRORS,
    Ctx,
    MinPosition,
    Reader,
    json_response,
    problems,
    wait_for_read,
)

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats", response_model=Stats, responses=problems(*READ_ERRORS), summary="Counts")
def tenant_stats(*, ctx: Ctx, _key: Reader, min_position: MinPosition = None) -> Response:
    """Tenants by status from the read table; `total` and `by_status` leave out deleted
    tenants, which `deleted` counts."""
    wait_for_read(ctx, min_position)
    return json_response(ctx.read_model().stats())


@router.get(
    "/projections",
    response_model=Projections,
    responses=problems(*STATUS_ERRORS, s503="`unavailable` (database down)."),
    summary="Projection health",
)
def projection_status(ctx: Ctx, _key: Reader) -> Response:
    """Each projection's state (`running`, `standby`, `stopped` when no projector reported
    for 10 s, `rebuilding`), position, the store's head, and the lag in events and seconds."""
    statuses = ctx.read_model().projections()
    return json_response({"data": [asdict(s) for s in statuses]})
