"""``/v1/tenants/changes``: the compacted changes feed consumers bootstrap from (SPEC §9).

Included before the tenants router: ``/v1/tenants/{tenant_id}`` would take ``changes`` for an
id.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.change_models import ChangeFeed, change_document
from api.routers.common import (
    READ_ERRORS,
    Ctx,
    MinPosition,
    Reader,
    json_response,
    problems,
    wait_for_read,
)

router = APIRouter(prefix="/v1/tenants/changes", tags=["changes"])

After = Annotated[
    int, Query(ge=0, le=2**62, description="Position to read after (0: the whole table).")
]


@router.get(
    "",
    response_model=ChangeFeed,
    responses=problems(*READ_ERRORS),
    summary="Changes feed",
    operation_id="listTenantChanges",
)
def list_tenant_changes(
    *,
    ctx: Ctx,
    _key: Reader,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 500,
    min_position: MinPosition = None,
) -> Response:
    """Every tenant whose row changed after `after`, once, in its current state (compacted),
    soft-deleted ones included, in increasing `position`; a purged tenant appears as
    `{"position", "tenant_id", "tenant": null, "purged_at"}`. `after=0` walks the whole
    table (the bootstrap of a local copy); then follow `GET /v1/tenants/changes/stream`."""
    wait_for_read(ctx, min_position)
    changes = ctx.read_model().changes(after=after, limit=limit)
    next_after = changes[-1].position if changes else after
    return json_response({"data": [change_document(c) for c in changes], "next_after": next_after})
