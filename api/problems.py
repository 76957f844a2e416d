"""The one place where failures become RFC 9457 ``application/problem+json`` responses.

Domain errors, request validation errors, HTTP errors of the router and infrastructure errors
are all mapped here. Bodies never carry a stack trace, SQL, or the values a client sent (a
validation error names the field and the rule, not the input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.gate import DatabaseUnavailable
from application.idempotency import (
    IdempotencyError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
)
from common.request_context import current_request_id
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidTransition,
    SlugTaken,
    TenantGone,
    TenantNotFound,
    ValidationFailed,
    VersionMismatch,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://tenant-registry.dev/problems/"
PROBLEM_JSON = "application/problem+json"

#: Errors that mean "the database cannot be reached": 503 ``unavailable``, never a 500.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # includes psycopg_pool.PoolTimeout
    psycopg.InterfaceError,
    StoreOperationalError,
    StoreInterfaceError,
    DatabaseUnavailable,
)

_TITLES = {
    "validation-error": "The request is not valid",
    "not-found": "No such resource",
    "gone": "The tenant was purged",
    "invalid-transition": "The tenant's state does not allow this command",
    "slug-taken": "The slug is taken",
    "version-mismatch": "The tenant has another version",
    "concurrency-conflict": "Too many concurrent changes to this tenant",
    "idempotency-key-reused": "The idempotency key was used for another request",
    "idempotency-key-in-progress": "A request with this idempotency key is still running",
    "unauthorized": "A valid API key is required",
    "forbidden": "The API key lacks the scope this route needs",
    "method-not-allowed": "The route does not accept this method",
    "payload-too-large": "The request body is too large",
    "unsupported-media-type": "The request body must be JSON",
    "projection-lagging": "The read side has not caught up yet",
    "unavailable": "The service cannot reach its database",
    "too-many-streams": "This process serves as many streams as it may",
    "internal-error": "Internal error",
}


class FieldProblem(BaseModel):
    """One invalid part of a request."""

    field: str = Field(description="Where: a body field, `query.limit`, `header.if-match`, …")
    message: str = Field(description="Which rule it breaks.")


class Problem(BaseModel):
    """An RFC 9457 problem. The token is the last path segment of ``type``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": PROBLEM_BASE + "invalid-transition",
                "title": _TITLES["invalid-transition"],
                "status": 409,
                "detail": "cannot reactivate a tenant that is trial",
                "current_status": "trial",
                "allowed": ["activate", "pause", "cancel"],
            }
        },
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = Field(
        None, description="`urn:request:<X-Request-ID>`: the request's id in the logs."
    )
    current_status: str | None = Field(None, description="`invalid-transition` only.")
    allowed: list[str] | None = Field(None, description="`invalid-transition` only.")
    errors: list[FieldProblem] | None = Field(None, description="`validation-error` only.")


class ProblemError(Exception):
    """Raise to answer with a problem; ``kind`` is the token (the last segment of ``type``),
    ``extra`` members are added to the body."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> bytes:
        """The problem document."""
        document = {
            "type": PROBLEM_BASE + self.kind,
            "title": _TITLES.get(self.kind) or HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        request_id = current_request_id()
        if request_id is not None:
            # The id to quote to an operator: every log line of the request carries it.
            document["instance"] = f"urn:request:{request_id}"
        return orjson.dumps(document)

    def response(self) -> Response:
        """The HTTP response."""
        headers = dict(self.headers)
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return Response(self.body(), self.status, headers=headers, media_type=PROBLEM_JSON)


def unavailable(detail: str = "the database cannot be reached; retry shortly") -> ProblemError:
    """503 ``unavailable`` with a ``Retry-After``."""
    return ProblemError(503, "unavailable", detail, headers={"Retry-After": "1"})


def validation_problem(errors: Sequence[tuple[str, str]]) -> ProblemError:
    """422 ``validation-error`` naming each bad field and its rule."""
    listed = [{"field": f, "message": m} for f, m in errors]
    detail = "; ".join(f"{f}: {m}" for f, m in errors) or "invalid request"
    return ProblemError(422, "validation-error", detail, errors=listed)


def to_problem(exc: BaseException) -> ProblemError:
    """Map any exception to the problem the client gets."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, DomainError):
        return _domain_problem(exc)
    if isinstance(exc, IdempotencyError):
        return _idempotency_problem(exc)
    if isinstance(exc, RequestValidationError):
        return validation_problem([_field_error(e) for e in exc.errors()])
    if isinstance(exc, StarletteHTTPException):
        return _http_problem(exc)
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return unavailable()
    return ProblemError(500, "internal-error", "the request failed; it has been logged")


def _domain_problem(exc: DomainError) -> ProblemError:
    if isinstance(exc, ValidationFailed):
        return validation_problem([(e.field, e.message) for e in exc.errors])
    if isinstance(exc, InvalidTransition):
        return ProblemError(
            409,
            "invalid-transition",
            str(exc),
            current_status=exc.current_status,
            allowed=list(exc.allowed),
        )
    if isinstance(exc, SlugTaken):
        return ProblemError(409, "slug-taken", str(exc))
    if isinstance(exc, TenantNotFound):
        return ProblemError(404, "not-found", "no tenant has this id")
    if isinstance(exc, TenantGone):
        return ProblemError(410, "gone", str(exc), purged_at=exc.purged_at.isoformat())
    if isinstance(exc, VersionMismatch):
        return ProblemError(
            412, "version-mismatch", str(exc), expected=exc.expected, actual=exc.actual
        )
    if isinstance(exc, ConcurrencyConflict):
        return ProblemError(409, "concurrency-conflict", "too many concurrent changes; retry")
    return ProblemError(409, "conflict", "the tenant's state refuses this request")


def _idempotency_problem(exc: IdempotencyError) -> ProblemError:
    if isinstance(exc, IdempotencyKeyReused):
        return ProblemError(422, "idempotency-key-reused", str(exc))
    if isinstance(exc, IdempotencyKeyInProgress):
        headers = {"Retry-After": "1"}
        return ProblemError(409, "idempotency-key-in-progress", str(exc), headers=headers)
    return ProblemError(409, "conflict", str(exc))


def _field_error(error: Mapping[str, Any]) -> tuple[str, str]:
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] == "body":
        location = location[1:] or ["body"]
    if error.get("type") == "json_invalid":
        return "body", "is not valid JSON"
    # ``msg`` states the rule; ``input`` (never shown) would echo what the client sent.
    return ".".join(location) or "request", str(error.get("msg", "is invalid"))


def _http_problem(exc: StarletteHTTPException) -> ProblemError:
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return ProblemError(404, "not-found", "no such route or resource", headers=headers)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): bad JSON, a 422.
        return validation_problem([("body", "is not valid JSON")])
    if exc.status_code == 405:
        return ProblemError(
            405, "method-not-allowed", "the route does not accept this method", headers=headers
        )
    phrase = HTTPStatus(exc.status_code).phrase
    kind = phrase.lower().replace(" ", "-")
    return ProblemError(exc.status_code, kind, phrase, headers=headers)


def install_handlers(app: FastAPI, on_unavailable: Callable[[], None]) -> None:
    """Route every known failure through :func:`to_problem`."""

    async def handle(request: Request, exc: Exception) -> Response:
        problem = to_problem(exc)
        if problem.status == 503 and problem.kind == "unavailable":
            on_unavailable()
        if problem.kind == "internal-error":
            log.exception("request failed", exc_info=exc, extra={"status": problem.status})
        elif problem.status >= 500:
            log.warning("request failed", extra={"status": problem.status, "error": _name(exc)})
        return problem.response()

    for kind in (
        ProblemError,
        DomainError,
        IdempotencyError,
        RequestValidationError,
        StarletteHTTPException,
        *INFRASTRUCTURE_ERRORS,
    ):
        app.add_exception_handler(kind, handle)


def _name(exc: BaseException) -> str:
    return type(exc).__name__
