"""One exception class per problem token (SPEC §3), each carrying the problem's fields.

``raise_for_problem`` turns an error response into the matching class; a token this client
does not know becomes a plain :class:`ProblemError` with the same fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx


class TenantRegistryError(Exception):
    """Base of every error this client raises."""


class RegistryUnreachable(TenantRegistryError):
    """The registry could not be reached (after the client's own retries)."""


class ProblemError(TenantRegistryError):
    """An RFC 9457 problem answered by the registry."""

    problem_type: ClassVar[str] = ""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", ""))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        self.instance: str | None = problem.get("instance")
        super().__init__(f"{status} {self.kind}: {self.detail or self.title}")

    @property
    def kind(self) -> str:
        """The problem token: the last path segment of ``type``."""
        return self.type.rstrip("/").rsplit("/", 1)[-1] or self.problem_type


class ValidationFailed(ProblemError):
    """422 ``validation-error``; ``errors`` lists ``{"field", "message"}`` pairs."""

    problem_type = "validation-error"

    @property
    def errors(self) -> list[dict[str, str]]:
        return list(self.problem.get("errors") or [])


class NotFound(ProblemError):
    """404 ``not-found``."""

    problem_type = "not-found"


class Gone(ProblemError):
    """410 ``gone``: the tenant was purged."""

    problem_type = "gone"

    @property
    def purged_at(self) -> str | None:
        value = self.problem.get("purged_at")
        return None if value is None else str(value)


class InvalidTransition(ProblemError):
    """409 ``invalid-transition``: the tenant's state refuses the command."""

    problem_type = "invalid-transition"

    @property
    def current_status(self) -> str | None:
        value = self.problem.get("current_status")
        return None if value is None else str(value)

    @property
    def allowed(self) -> list[str]:
        """The lifecycle commands that would change the tenant from where it is now."""
        return [str(name) for name in self.problem.get("allowed") or []]


class SlugTaken(ProblemError):
    """409 ``slug-taken``."""

    problem_type = "slug-taken"


class VersionMismatch(ProblemError):
    """412 ``version-mismatch``: ``If-Match`` named another version."""

    problem_type = "version-mismatch"

    @property
    def expected(self) -> int | None:
        value = self.problem.get("expected")
        return None if value is None else int(value)

    @property
    def actual(self) -> int | None:
        value = self.problem.get("actual")
        return None if value is None else int(value)


class ConcurrencyConflict(ProblemError):
    """409 ``concurrency-conflict``: too many concurrent changes to one tenant."""

    problem_type = "concurrency-conflict"


class IdempotencyKeyReused(ProblemError):
    """422 ``idempotency-key-reused``: the key was used for another request."""

    problem_type = "idempotency-key-reused"


class IdempotencyKeyInProgress(ProblemError):
    """409 ``idempotency-key-in-progress`` (raised only once the client's retries ran out)."""

    problem_type = "idempotency-key-in-progress"


class Unauthorized(ProblemError):
    """401 ``unauthorized``."""

    problem_type = "unauthorized"


class Forbidden(ProblemError):
    """403 ``forbidden``: the key lacks the scope."""

    problem_type = "forbidden"


class MethodNotAllowed(ProblemError):
    """405 ``method-not-allowed``."""

    problem_type = "method-not-allowed"


class PayloadTooLarge(ProblemError):
    """413 ``payload-too-large``."""

    problem_type = "payload-too-large"


class UnsupportedMediaType(ProblemError):
    """415 ``unsupported-media-type``."""

    problem_type = "unsupported-media-type"


class ProjectionLagging(ProblemError):
    """503 ``projection-lagging``: ``min_position`` was not reached in time."""

    problem_type = "projection-lagging"


class Unavailable(ProblemError):
    """503 ``unavailable``: the registry cannot reach its database."""

    problem_type = "unavailable"


class TooManyStreams(ProblemError):
    """503 on a stream: the process serves its maximum number of streams."""

    problem_type = "too-many-streams"


class InternalError(ProblemError):
    """500 ``internal-error``."""

    problem_type = "internal-error"


PROBLEM_CLASSES: dict[str, type[ProblemError]] = {
    cls.problem_type: cls
    for cls in (
        ValidationFailed,
        NotFound,
        Gone,
        InvalidTransition,
        SlugTaken,
        VersionMismatch,
        ConcurrencyConflict,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        Unauthorized,
        Forbidden,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMediaType,
        ProjectionLagging,
        Unavailable,
        TooManyStreams,
        InternalError,
    )
}


def problem_token(response: httpx.Response) -> str:
    """The problem token of an error response ('' if the body is not a problem)."""
    document = _problem_document(response)
    return str(document.get("type", "")).rstrip("/").rsplit("/", 1)[-1]


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the matching :class:`ProblemError` for a 4xx/5xx response."""
    if response.status_code < 400:
        return
    document = _problem_document(response)
    if not document:
        document = {"title": response.reason_phrase, "detail": response.text[:200]}
    kind = str(document.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
    raise PROBLEM_CLASSES.get(kind, ProblemError)(response.status_code, document)


def _problem_document(response: httpx.Response) -> dict[str, Any]:
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


class WebhookVerificationError(TenantRegistryError):
    """A webhook's signature or timestamp does not check out."""
