"""``/v1/tenants``: register, read, list, lifecycle commands, profile updates, history."""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from api.auth import require
from api.commands import CommandCall, expected_version, run_command
from api.keys import DELETE, WRITE, ApiKey
from api.models import CommandRequest as CommandBody
from api.models import History, ProfileUpdate, RegisterRequest, StatusName, TenantOut, TenantPage
from api.problems import ProblemError, validation_problem
from api.representations import event_document
from api.routers.common import (
    HEADERS,
    HISTORY_ERRORS,
    READ_ERRORS,
    REGISTER_ERRORS,
    Ctx,
    Deleter,
    IdempotencyKey,
    IfMatch,
    MinPosition,
    Reader,
    Writer,
    command_responses,
    json_response,
    problems,
    wait_for_read,
)
from domain.lifecycle import Command
from domain.validation import PLAN
from projections.queries import InvalidCursor

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])

TenantId = Annotated[UUID, Path(description="The tenant's id.")]
#: A list page's bounds (the fast routes take a page within them, FastAPI refuses the rest).
MAX_PAGE = 200
MAX_CURSOR = 512
#: PostgreSQL text cannot hold U+0000: a search for it is refused (422), not a 500.
NO_NUL = r"^[^\x00]*$"

_COMMAND_DOCS: dict[Command, str] = {
    Command.ACTIVATE: "Payment confirmed: `trial`, `grace` or `paused` become `active` "
    "(clears `grace_ends_at`).",
    Command.START_GRACE: "Payment failed: an `active` tenant enters `grace` until local midnight "
    "`grace_days` later.",
    Command.PAUSE: "Suspend a `trial`, `active` or `grace` tenant.",
    Command.CANCEL: "End the subscription of a tenant that is not `cancelled`.",
    Command.REACTIVATE: "Bring a `cancelled` tenant that is not deleted back to `active`.",
    Command.RESTORE: "Undo a soft delete while its retention lasts (scope `tenants:delete`).",
}
_NO_OP = (
    " A command whose result is the current state succeeds and records nothing; a refused "
    "one answers 409 `invalid-transition` with `current_status` and `allowed`."
)


@router.post(
    "",
    status_code=201,
    response_model=TenantOut,
    responses=command_responses(
        201, *REGISTER_ERRORS, s409="`slug-taken` or `idempotency-key-in-progress`."
    ),
    summary="Register a tenant",
)
def register_tenant(
    *,
    body: RegisterRequest,
    request: Request,
    ctx: Ctx,
    key: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Register a new tenant in `trial`; its trial ends at 00:00 local time `trial_days`
    after the local registration date. Answers 201 with `Location`, `ETag` and
    `X-Event-Position`; 409 `slug-taken` if another tenant holds the slug."""
    fields = body.model_dump()
    call = CommandCall("register", key, idempotency_key, success_status=201)
    return run_command(
        ctx,
        request,
        call,
        lambda cause, claim: ctx.registry().register(actor=cause, claim=claim, **fields),
    )


@router.get(
    "",
    response_model=TenantPage,
    responses=problems(*READ_ERRORS),
    summary="List tenants",
)
def list_tenants(
    *,
    ctx: Ctx,
    _key: Reader,
    status: Annotated[StatusName | None, Query(description="Only this status.")] = None,
    plan: Annotated[
        str | None, Query(max_length=40, pattern=PLAN.pattern, description="Only this plan.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Name contains (any case) or slug starts with.",
        ),
    ] = None,
    include_deleted: Annotated[bool, Query(description="Include soft-deleted tenants.")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR, description="`next_cursor` of the previous page."),
    ] = None,
    min_position: MinPosition = None,
) -> Response:
    """Tenants newest first, a page at a time. The cursor is opaque and stable while other
    clients register tenants: walking every page returns each earlier tenant exactly once."""
    wait_for_read(ctx, min_position)
    try:
        page = ctx.read_model().list(
            status=status,
            plan=plan,
            q=q,
            include_deleted=include_deleted,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursor:
        raise validation_problem([("query.cursor", "is not a cursor this API issued")]) from None
    # Read rows serialise as they are (see ``TenantRow``): no document per row.
    return json_response({"data": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/{tenant_id}",
    response_model=TenantOut,
    responses={
        200: {"description": "The tenant.", "headers": {"ETag": HEADERS["ETag"]}},
        **problems(*READ_ERRORS, 404, 410),
    },
    summary="Get a tenant",
)
def get_tenant(
    *, tenant_id: TenantId, ctx: Ctx, _key: Reader, min_position: MinPosition = None
) -> Response:
    """The tenant from the read side, with its `ETag`; soft-deleted tenants too (with
    `deleted_at`). 404 if unknown, 410 if purged."""
    wait_for_read(ctx, min_position)
    row = ctx.read_model().get(tenant_id)
    if row is None:
        raise ProblemError(404, "not-found", "no tenant has this id")
    return json_response(row, ETag=f'"{row.version}"')


@router.get(
    "/{tenant_id}/events",
    response_model=History,
    responses=problems(*HISTORY_ERRORS, s503="`unavailable` (database down)."),
    summary="A tenant's history",
)
def tenant_history(*, tenant_id: TenantId, ctx: Ctx, _key: Reader) -> Response:
    """Every event of the tenant in version order, from the event store. 404 if unknown,
    410 if purged."""
    events = ctx.registry().history(tenant_id)
    return json_response({"data": [event_document(e) for e in events]})


@router.patch(
    "/{tenant_id}",
    response_model=TenantOut,
    responses=command_responses(),
    summary="Update the profile",
)
def update_tenant(
    *,
    tenant_id: TenantId,
    body: ProfileUpdate,
    request: Request,
    ctx: Ctx,
    key: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change `name`, `timezone`, `plan`, `contact_email` or `metadata` (one event with only
    what changes). Other fields are a 422; a deleted tenant answers 409
    `invalid-transition`."""
    version = expected_version(if_match, lambda: ctx.registry().get_tenant(tenant_id).version)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason", None)
    call = CommandCall("update-profile", key, idempotency_key, tenant_id)
    return run_command(
        ctx,
        request,
        call,
        lambda cause, claim: ctx.registry().update_profile(
            tenant_id,
            changes,
            actor=cause,
            reason=reason,
            expected_version=version,
            claim=claim,
        ),
    )


@router.delete(
    "/{tenant_id}",
    response_model=TenantOut,
    responses=command_responses(),
    summary="Soft-delete a tenant",
)
def delete_tenant(
    *,
    tenant_id: TenantId,
    request: Request,
    ctx: Ctx,
    key: Deleter,
    body: CommandBody | None = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Soft-delete a `cancelled` tenant: it stays `cancelled`, gets `deleted_at` and
    `purge_after` (retention later its data is purged) and leaves the lists."""
    return run_lifecycle(
        Command.DELETE,
        tenant_id,
        request,
        ctx,
        key,
        body=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


def run_lifecycle(
    command: Command,
    tenant_id: UUID,
    request: Request,
    ctx: Ctx,
    key: ApiKey,
    *,
    body: CommandBody | None,
    if_match: str | None,
    idempotency_key: str | None,
) -> Response:
    version = expected_version(if_match, lambda: ctx.registry().get_tenant(tenant_id).version)
    reason = body.reason if body is not None else None
    call = CommandCall(command, key, idempotency_key, tenant_id)
    return run_command(
        ctx,
        request,
        call,
        lambda cause, claim: ctx.registry().run(
            command,
            tenant_id,
            actor=cause,
            reason=reason,
            expected_version=version,
            claim=claim,
        ),
    )


def command_scope(command: Command) -> str:
    """The scope a lifecycle command's route needs (a restore undoes a delete)."""
    return DELETE if command is Command.RESTORE else WRITE


def _lifecycle_route(command: Command) -> Callable[..., Response]:
    scoped = Annotated[ApiKey, Depends(require(command_scope(command)))]

    def endpoint(
        *,
        tenant_id: TenantId,
        request: Request,
        ctx: Ctx,
        key: scoped,
        body: CommandBody | None = None,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return run_lifecycle(
            command,
            tenant_id,
            request,
            ctx,
            key,
            body=body,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )

    endpoint.__name__ = f"{command.name.lower()}_tenant"
    endpoint.__doc__ = _COMMAND_DOCS[command] + _NO_OP
    return endpoint


#: The lifecycle commands that have a route ``/v1/tenants/{tenant_id}/<command>``.
LIFECYCLE_COMMANDS = tuple(_COMMAND_DOCS)

for _command in _COMMAND_DOCS:
    router.add_api_route(
        f"/{{tenant_id}}/{_command.value}",
        _lifecycle_route(_command),
        methods=["POST"],
        response_model=TenantOut,
        responses=command_responses(),
        summary=_command.value.capitalize().replace("-", " "),
    )
