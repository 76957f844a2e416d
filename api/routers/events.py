"""``/v1/events``: the global feed for downstream consumers."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.models import EventType, Feed
from api.representations import event_document
from api.routers.common import READ_ERRORS, Ctx, Reader, json_response, problems

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=Feed, responses=problems(*READ_ERRORS), summary="Event feed")
def event_feed(
    *,
    ctx: Ctx,
    _key: Reader,
    after: Annotated[
        int, Query(ge=0, le=2**62, description="Position to read after (0: the start).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
    types: Annotated[
        list[EventType] | None,
        Query(alias="type", description="Only these event types (repeatable)."),
    ] = None,
) -> Response:
    """Tenant events after `after`, positions increasing (with gaps). `next_after` is the last
    position returned, or `after` on an empty page. A purge removes the tenant's events and
    appends one `TenantPurged` (data: `purged_at`) so consumers can erase their copies."""
    events = ctx.registry().feed(after=after, limit=limit, types=types or ())
    next_after = events[-1].position if events else after
    return json_response({"data": [event_document(e) for e in events], "next_after": next_after})
