"""Running a command for a route: the claim (when an ``Idempotency-Key`` came), the registry
call, and the response.

Command responses are built from the write model (the ``Tenant`` the command left behind) and
carry ``ETag`` and ``X-Event-Position``. What is stored and replayed under a key is decided by
the application (:mod:`application.idempotent`); this module only renders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import orjson
from fastapi import Request
from starlette.responses import Response

from api.auth import actor
from api.context import ApiContext
from api.guard import BODY_SCOPE_KEY
from api.keys import ApiKey
from api.problems import PROBLEM_JSON, ProblemError, to_problem, validation_problem
from api.representations import dumps, tenant_document
from application.cause import Cause, new_correlation_id
from application.idempotency import Claim, IdempotentRequest, Replay
from application.idempotent import Replayed, run_idempotently
from application.registry import CommandResult
from domain.errors import DomainError

#: A route's command: given the cause and the claim (None without a key), run it.
Action = Callable[[Cause, Claim | None], CommandResult]

_ETAG = re.compile(r'^(?:W/)?"[\x21\x23-\x7e]*"$')
#: The only spelling of a version that can match strongly: our own ``"<version>"``.
_STRONG_VERSION = re.compile(r'^"(0|[1-9]\d{0,17})"$')


@dataclass(frozen=True)
class CommandCall:
    """One command request: what, by whom, under which idempotency key."""

    name: str
    key: ApiKey
    idempotency_key: str | None
    tenant_id: UUID | None = None
    success_status: int = 200


def expected_version(if_match: str | None, current: Callable[[], int] | None = None) -> int | None:
    """The version an ``If-Match`` header pins (``*`` or none: the latest).

    RFC 9110 compares ``If-Match`` strongly: a weak tag (``W/"3"``) or another spelling of
    the number (``"0003"``) never matches. A list of tags matches when any does; ``current``
    (the tenant's version, read only for a list naming several versions) picks that one.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if not all(_ETAG.match(tag) for tag in tags):
        raise validation_problem([("header.if-match", 'must be an ETag such as "3"')])
    versions = {int(m.group(1)) for tag in tags if (m := _STRONG_VERSION.match(tag))}
    if not versions:
        raise ProblemError(
            412, "version-mismatch", "If-Match names no current version (tags compare strongly)"
        )
    if len(versions) == 1 or current is None:
        return min(versions)
    version = current()
    return version if version in versions else min(versions)


def cause_of(request: Request, key: ApiKey) -> Cause:
    """Who runs the command (``key:<name>``) and the request id its events record."""
    request_id = getattr(request.state, "request_id", None)
    return Cause(actor(key), request_id or new_correlation_id())


def run_command(ctx: ApiContext, request: Request, call: CommandCall, action: Action) -> Response:
    """Run ``action`` once for this request and answer with the tenant it left."""
    counter = ctx.metrics.commands
    cause = cause_of(request, call.key)
    try:
        if call.idempotency_key is None:
            result = action(cause, None)
            response = _tenant_response(result, call.success_status)
            outcome = "changed" if result.changed else "unchanged"
        else:
            response, outcome = _run_idempotent(ctx, request, call, cause, action)
    except Exception as exc:
        counter.labels(call.name, _outcome(exc)).inc()
        raise
    counter.labels(call.name, outcome).inc()
    return response


def _run_idempotent(
    ctx: ApiContext, request: Request, call: CommandCall, cause: Cause, action: Action
) -> tuple[Response, str]:
    assert call.idempotency_key is not None  # noqa: S101 - narrowed by the caller
    claim_request = IdempotentRequest(
        api_key=call.key.key_id,
        key=call.idempotency_key,
        method=request.method,
        path=request.url.path,
        body=request.scope.get(BODY_SCOPE_KEY, b""),
        success_status=call.success_status,
        tenant_id=call.tenant_id,
    )
    done = run_idempotently(
        ctx.idempotency,
        ctx.registry(),
        claim_request,
        lambda claim: action(cause, claim),
        _render_refusal,
    )
    if isinstance(done, Replayed):
        return _replay_response(ctx, done.replay), "replayed"
    outcome = "changed" if done.changed else "unchanged"
    return _tenant_response(done, call.success_status, done.body), outcome


def _render_refusal(exc: DomainError) -> tuple[int, bytes]:
    problem = to_problem(exc)
    return problem.status, problem.body()


def _tenant_response(result: CommandResult, status: int, body: bytes | None = None) -> Response:
    tenant = result.tenant
    headers = {"ETag": f'"{tenant.version}"', "X-Event-Position": str(result.position)}
    if status == 201:
        headers["Location"] = f"/v1/tenants/{tenant.id}"
    content = body if body is not None else dumps(tenant_document(tenant))
    return Response(content, status, headers=headers, media_type="application/json")


def _replay_response(ctx: ApiContext, replay: Replay) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if replay.status_code >= 400:
        return Response(replay.body, replay.status_code, headers=headers, media_type=PROBLEM_JSON)
    document = orjson.loads(replay.body)
    headers["ETag"] = f'"{document["version"]}"'
    # The original position is not stored (it is known only after the commit); the head is
    # at least as far, which is all a ``min_position`` read needs.
    headers["X-Event-Position"] = str(ctx.registry().head())
    if replay.status_code == 201:
        headers["Location"] = f"/v1/tenants/{document['id']}"
    return Response(replay.body, replay.status_code, headers=headers, media_type="application/json")


def _outcome(exc: Exception) -> str:
    status = to_problem(exc).status
    if status == 422:
        return "invalid"
    if status == 503:
        return "unavailable"
    return "error" if status >= 500 else "refused"
