"""Named errors of the tenant domain. Edges translate them (HTTP problems, CLI messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


class DomainError(Exception):
    """Base of every rule the registry refuses to break."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field: where and why."""

    field: str
    message: str


class ValidationFailed(DomainError):
    """Input that breaks a rule of SPEC §2; nothing was changed."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class InvalidTransition(DomainError):
    """A lifecycle command the tenant's current state does not allow."""

    def __init__(self, command: str, current_status: str, allowed: tuple[str, ...]) -> None:
        self.command = command
        self.current_status = current_status
        self.allowed = allowed
        super().__init__(f"cannot {command} a tenant that is {current_status}")


class NotDue(DomainError):
    """A sweep found a tenant whose deadline has not come (or that moved on meanwhile)."""


class SlugTaken(DomainError):
    """Another tenant that is not purged already holds the slug."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(f"slug {slug!r} is taken")


class TenantNotFound(DomainError):
    """No tenant has this id."""

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id} not found")


class TenantGone(DomainError):
    """The tenant existed and was purged."""

    def __init__(self, tenant_id: UUID, purged_at: datetime) -> None:
        self.tenant_id = tenant_id
        self.purged_at = purged_at
        super().__init__(f"tenant {tenant_id} was purged at {purged_at.isoformat()}")


class VersionMismatch(DomainError):
    """The caller expected another version of the tenant (``If-Match``)."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"expected version {expected}, current version is {actual}")


class ConcurrencyConflict(DomainError):
    """Other writers kept winning the race for this tenant; the command was not applied."""
