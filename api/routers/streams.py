"""``/v1/tenants/changes/stream`` and ``/v1/events/stream``: the feeds as Server-Sent Events.

The handlers are ``async``: a stream holds no worker thread and no pooled connection; the
process's one listener (:mod:`api.streams.hub`) feeds them all.
"""

from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from api.models import EventType
from api.problems import ProblemError, validation_problem
from api.routers.common import Ctx, Reader, problems
from api.streams.hub import StreamHub, StreamsUnavailable, TooManyStreams
from api.streams.items import Item, Page, events_page
from api.streams.response import StreamResponse

router = APIRouter(tags=["changes"])

After = Annotated[
    int,
    Query(ge=0, le=2**62, description="Position to start after (0: from the beginning)."),
]
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The `id` of the last message received; takes precedence over `after`.",
    ),
]

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: each message is `id: <position>`, "
        "`event: <name>`, `data: <the item's JSON>`; a comment line keeps it open.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **problems(401, 403, 422),
    503: {
        **problems(503)[503],
        "description": "`too-many-streams` (this process's cap) or `unavailable`; "
        "see `Retry-After`.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def _hub(request: Request) -> StreamHub:
    return cast(StreamHub, request.app.state.streams)


def _start(after: int, last_event_id: str | None) -> int:
    if last_event_id is None:
        return after
    value = last_event_id.strip()
    if not value.isdigit() or int(value) > 2**62:
        raise validation_problem([("header.last-event-id", "is not a position")])
    return int(value)


async def _stream(
    request: Request, ctx: Ctx, source: str, *, page: Page, after: int, accepts: Any
) -> Response:
    hub = _hub(request)
    try:
        subscription = await hub.subscribe(source, accepts)
    except TooManyStreams:
        raise ProblemError(
            503,
            "too-many-streams",
            "this process serves as many streams as it may; retry, perhaps on another",
            headers={"Retry-After": "5"},
        ) from None
    except StreamsUnavailable as exc:
        raise ProblemError(503, "unavailable", str(exc), headers={"Retry-After": "1"}) from None
    return StreamResponse(
        hub,
        subscription,
        page=page,
        page_size=hub.page_size(source),
        after=after,
        heartbeat=ctx.settings.stream_heartbeat_seconds,
    )


@router.get(
    "/v1/tenants/changes/stream",
    response_class=Response,
    responses=_STREAM_DOC,
    summary="Stream of changes",
    operation_id="streamTenantChanges",
)
async def stream_tenant_changes(
    *,
    request: Request,
    ctx: Ctx,
    _key: Reader,
    after: After = 0,
    last_event_id: LastEventId = None,
) -> Response:
    """The changes feed after `after` (or `Last-Event-ID`), then each change as it lands:
    `event: change` for tenants and purge items alike. Resume with `Last-Event-ID`."""
    start = _start(after, last_event_id)
    page = _hub(request).page("changes")
    return await _stream(request, ctx, "changes", page=page, after=start, accepts=_everything)


@router.get(
    "/v1/events/stream",
    response_class=Response,
    responses=_STREAM_DOC,
    summary="Stream of events",
    operation_id="streamEvents",
    tags=["events"],
)
async def stream_events(
    *,
    request: Request,
    ctx: Ctx,
    _key: Reader,
    after: After = 0,
    types: Annotated[
        list[EventType] | None,
        Query(alias="type", description="Only these event types (repeatable)."),
    ] = None,
    last_event_id: LastEventId = None,
) -> Response:
    """The event feed after `after` (or `Last-Event-ID`), then each event as it commits;
    `event:` is the event type. Resume with `Last-Event-ID`."""
    start = _start(after, last_event_id)
    wanted = frozenset(types or ())
    page = events_page(ctx, tuple(wanted))

    def accepts(item: Item) -> bool:
        return not wanted or item.kind in wanted

    return await _stream(request, ctx, "events", page=page, after=start, accepts=accepts)


def _everything(_item: Item) -> bool:
    return True
