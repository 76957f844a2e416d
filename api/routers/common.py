"""Typed dependencies and helpers the routers share.

No ``from __future__ import annotations`` here or in the routers: FastAPI reads the
``Annotated`` dependencies of route signatures at definition time.
"""

from typing import Annotated, Any, cast

from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from api.auth import require
from api.context import ApiContext
from api.keys import ADMIN, DELETE, READ, WRITE, ApiKey
from api.problems import Problem, ProblemError, validation_problem
from api.representations import dumps


async def _context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.ctx)


Ctx = Annotated[ApiContext, Depends(_context)]
Reader = Annotated[ApiKey, Depends(require(READ))]
Writer = Annotated[ApiKey, Depends(require(WRITE))]
Deleter = Annotated[ApiKey, Depends(require(DELETE))]
Admin = Annotated[ApiKey, Depends(require(ADMIN))]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Replays the first response to this key (from this API key) for 24 h.",
        examples=["3f1c9a6e-register-acme"],
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Apply only to this version (the `ETag`, e.g. `"3"`); else 412.',
        examples=['"3"'],
    ),
]
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**62,
        description="Wait up to 5 s for the read side to reach this position "
        "(`X-Event-Position` of a command); else 503 `projection-lagging`.",
    ),
]

_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one (`unauthorized`).",
    403: "The API key lacks the scope (`forbidden`).",
    404: "No such tenant (`not-found`).",
    409: "`invalid-transition`, `idempotency-key-in-progress` or `concurrency-conflict`.",
    410: "The tenant was purged (`gone`).",
    412: "`If-Match` names no current version (`version-mismatch`).",
    413: "Body over 64 KiB (`payload-too-large`).",
    415: "Body that is not `application/json` (`unsupported-media-type`).",
    422: "`validation-error` (fields named, values not echoed) or `idempotency-key-reused`.",
    503: "`unavailable` (database down) or `projection-lagging`; see `Retry-After`.",
}

#: The problems each kind of operation can answer (SPEC §3), and no others.
READ_ERRORS = (401, 403, 422, 503)
REGISTER_ERRORS = (401, 403, 409, 413, 415, 422, 503)
COMMAND_ERRORS = (401, 403, 404, 409, 410, 412, 413, 415, 422, 503)
HISTORY_ERRORS = (401, 403, 404, 410, 422, 503)
STATUS_ERRORS = (401, 403, 503)

#: Response headers as OpenAPI declares them (``X-Request-ID`` and ``Retry-After`` on 503s
#: are added to every operation by :class:`api.app.RegistryApi`).
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The tenant\'s version as a strong entity tag, e.g. `"3"`: the '
        "`If-Match` of a later command.",
        "schema": {"type": "string"},
    },
    "X-Event-Position": {
        "description": "Global position of the last event the command wrote (or the head "
        "for a no-op): pass it as `min_position` to read your write.",
        "schema": {"type": "integer"},
    },
    "Location": {"description": "The new tenant's URL.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with "
        "the same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def problems(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these problem statuses (``s409="…"`` overrides the
    description of one)."""
    return {
        code: {
            "model": Problem,
            "description": descriptions.get(f"s{code}", _DESCRIPTIONS[code]),
        }
        for code in codes
    }


def command_responses(status: int = 200, *errors: int, **descriptions: str) -> dict[int | str, Any]:
    """``responses`` of a command: its success with the headers it sends, and its problems."""
    names = ["ETag", "X-Event-Position", "Idempotent-Replayed"]
    if status == 201:
        names.append("Location")
    success = {"description": "The tenant after the command.", "headers": {}}
    success["headers"] = {name: HEADERS[name] for name in names}
    return {status: success, **problems(*(errors or COMMAND_ERRORS), **descriptions)}


def camel_case_id(route: APIRoute) -> str:
    """The operation id of a route: its handler's name in camelCase (``registerTenant``)."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def json_response(document: Any, status: int = 200, **headers: str) -> Response:
    """A JSON response rendered with orjson."""
    return Response(dumps(document), status, headers=headers, media_type="application/json")


def wait_for_read(ctx: ApiContext, min_position: int | None) -> None:
    """Hold a read until the read table has reached ``min_position`` (or give a 503).

    A position beyond the newest event cannot come from a command of this service (every
    command's position is committed before it answers): a 422 at once, not a 5 s wait.
    """
    if min_position is None:
        return
    read_model = ctx.read_model()
    if read_model.wait_for_position(min_position, 0.0):
        return
    if min_position > ctx.registry().head():
        raise validation_problem([("query.min_position", "is beyond the newest event")])
    # SPEC §3: 5 s (``TENANT_REGISTRY_API_MIN_POSITION_WAIT_SECONDS``).
    if not read_model.wait_for_position(min_position, ctx.settings.api_min_position_wait_seconds):
        raise ProblemError(
            503,
            "projection-lagging",
            f"the read side has not reached position {min_position} yet",
            headers={"Retry-After": "1"},
        )
