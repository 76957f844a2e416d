"""Running a command for a route: idempotency, the registry call, and the response.

Command responses are built from the write model (the ``Tenant`` the command left behind) and
carry ``ETag`` and ``X-Event-Position``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import DataError as StoreDataError
from fastapi import Request
from starlette.responses import Response

from api.context import ApiContext
from api.guard import BODY_SCOPE_KEY
from api.idempotency import Claim, Replay, fingerprint
from api.keys import ApiKey
from api.problems import PROBLEM_JSON, ProblemError, to_problem, validation_problem
from api.representations import dumps, tenant_document
from application.recorder import Statement
from application.registry import CommandResult, ExtraStatements
from domain.errors import ConcurrencyConflict, DomainError, ValidationFailed
from domain.tenant import Tenant

Action = Callable[[ExtraStatements | None], CommandResult]

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


def run_command(ctx: ApiContext, request: Request, call: CommandCall, action: Action) -> Response:
    """Run ``action`` once for this request and answer with the tenant it left."""
    counter = ctx.metrics.commands
    try:
        if call.idempotency_key is None:
            result = action(None)
            response = _tenant_response(result, call.success_status)
            outcome = "changed" if result.changed else "unchanged"
        else:
            response, outcome = _run_idempotent(ctx, request, call, action)
    except Exception as exc:
        counter.labels(call.name, _outcome(exc)).inc()
        raise
    counter.labels(call.name, outcome).inc()
    return response


def _run_idempotent(
    ctx: ApiContext, request: Request, call: CommandCall, action: Action
) -> tuple[Response, str]:
    assert call.idempotency_key is not None  # noqa: S101 - narrowed by the caller
    body = request.scope.get(BODY_SCOPE_KEY, b"")
    print_ = fingerprint(request.method, request.url.path, body)
    store = ctx.idempotency
    claimed = store.claim(ctx.connection, call.key.key_id, call.idempotency_key, print_)
    if isinstance(claimed, Replay):
        return _replay_response(ctx, claimed), "replayed"
    claim: Claim = claimed
    rendered: dict[str, bytes] = {}

    def record(tenant: Tenant) -> list[Statement]:
        rendered["body"] = dumps(tenant_document(tenant))
        return [store.finish_statement(claim, call.success_status, rendered["body"], tenant.id)]

    try:
        result = action(record)
    except DomainError as exc:
        # Invalid input never reached the command; a lost race is worth retrying with the
        # same key. Neither is an answer to replay.
        if isinstance(exc, ValidationFailed | ConcurrencyConflict):
            _release(ctx, claim)
            raise
        problem = to_problem(exc)
        store.finish(ctx.connection, claim, problem.status, problem.body(), call.tenant_id)
        raise problem from None
    except StoreDataError as exc:
        _release(ctx, claim)
        if isinstance(exc.__cause__, psycopg.errors.DivisionByZero):
            raise _taken_over() from None
        raise
    except BaseException:
        _release(ctx, claim)
        raise
    if not result.changed:
        body = dumps(tenant_document(result.tenant))
        store.finish(ctx.connection, claim, call.success_status, body, result.tenant.id)
        return _tenant_response(result, call.success_status, body), "unchanged"
    return _tenant_response(result, call.success_status, rendered.get("body")), "changed"


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


def _release(ctx: ApiContext, claim: Claim) -> None:
    # Best effort: if the database is gone the lease expires on its own.
    with contextlib.suppress(Exception):
        ctx.idempotency.release(ctx.connection, claim)


def _taken_over() -> ProblemError:
    return ProblemError(
        409,
        "idempotency-key-in-progress",
        "this request outlived its idempotency lease and a retry took the key over",
        headers={"Retry-After": "1"},
    )


def _outcome(exc: Exception) -> str:
    status = to_problem(exc).status
    if status == 422:
        return "invalid"
    if status == 503:
        return "unavailable"
    return "error" if status >= 500 else "refused"
