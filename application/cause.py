"""Who caused a change and which request (sweep run, CLI invocation) it belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4


def new_correlation_id() -> str:
    """A fresh id in the request-id alphabet (``[A-Za-z0-9._-]``, 32 characters)."""
    return uuid4().hex


@dataclass(frozen=True)
class Cause:
    """The ``actor`` and ``correlation_id`` every event records (SPEC §2.1, §11)."""

    actor: str
    correlation_id: str | None = None

    @classmethod
    def of(cls, actor: str | Cause) -> Cause:
        """A cause as given, or for a bare actor one with a fresh correlation id."""
        if isinstance(actor, Cause):
            return actor
        return cls(actor, new_correlation_id())
