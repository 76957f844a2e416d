"""The directory's compact, read-only tenant records.

A million tenants must fit in well under 1 GiB, so a record is a slotted object (no
``__dict__``), strings repeated across tenants (status, plan, time zone) are shared, an empty
``metadata`` is one shared object, and the nine instants are floats (24 bytes, against 48 for a
``datetime``) turned back into UTC ``datetime`` on access — exactly: a POSIX float near 2027
resolves 0.24 µs, and ``datetime.fromtimestamp`` rounds to the nearest microsecond.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NoReturn
from uuid import UUID

INSTANTS = (
    "created_at",
    "updated_at",
    "trial_ends_at",
    "grace_ends_at",
    "activated_at",
    "paused_at",
    "cancelled_at",
    "deleted_at",
    "purge_after",
)
FIELDS = (
    "id",
    "slug",
    "name",
    "timezone",
    "plan",
    "contact_email",
    "metadata",
    "status",
    *INSTANTS,
    "version",
)
_EMPTY: dict[str, Any] = {}
_set = object.__setattr__


class Interner:
    """Shares equal strings (a plan named a million times is stored once) and remembers the
    instants it parsed lately (``updated_at`` often repeats ``activated_at``, deadlines fall on
    the same midnights)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._stamps: dict[str, float] = {}

    def __call__(self, value: str) -> str:
        return self._seen.setdefault(value, value)

    def stamp(self, value: str | None) -> float | None:
        """The POSIX time of an ISO 8601 instant (``None`` stays ``None``)."""
        if value is None:
            return None
        found = self._stamps.get(value)
        if found is None:
            if len(self._stamps) > 100_000:  # bounded: a cache, not a second copy
                self._stamps.clear()
            found = self._stamps[value] = datetime.fromisoformat(value).timestamp()
        return found


def _instant(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class DirectoryTenant:
    """A tenant as the directory holds it; the fields of the API's tenant, read-only."""

    __slots__ = (
        "_activated_at",
        "_cancelled_at",
        "_created_at",
        "_deleted_at",
        "_grace_ends_at",
        "_metadata",
        "_paused_at",
        "_purge_after",
        "_trial_ends_at",
        "_updated_at",
        "contact_email",
        "id",
        "name",
        "plan",
        "slug",
        "status",
        "timezone",
        "version",
    )
    id: UUID
    slug: str
    name: str
    timezone: str
    plan: str
    contact_email: str | None
    status: str
    version: int
    _metadata: dict[str, Any]
    _created_at: float
    _updated_at: float
    _trial_ends_at: float | None
    _grace_ends_at: float | None
    _activated_at: float | None
    _paused_at: float | None
    _cancelled_at: float | None
    _deleted_at: float | None
    _purge_after: float | None

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], tenant_id: UUID, intern: Interner
    ) -> DirectoryTenant:
        """Build a record from the tenant's JSON document."""
        record = cls.__new__(cls)
        _set(record, "id", tenant_id)
        _set(record, "slug", document["slug"])
        _set(record, "name", document["name"])
        _set(record, "timezone", intern(document["timezone"]))
        _set(record, "plan", intern(document["plan"]))
        _set(record, "contact_email", document.get("contact_email"))
        _set(record, "_metadata", document.get("metadata") or _EMPTY)
        _set(record, "status", intern(document["status"]))
        _set(record, "version", int(document["version"]))
        stamp = intern.stamp
        get = document.get
        _set(record, "_created_at", stamp(document["created_at"]))
        _set(record, "_updated_at", stamp(document["updated_at"]))
        _set(record, "_trial_ends_at", stamp(get("trial_ends_at")))
        _set(record, "_grace_ends_at", stamp(get("grace_ends_at")))
        _set(record, "_activated_at", stamp(get("activated_at")))
        _set(record, "_paused_at", stamp(get("paused_at")))
        _set(record, "_cancelled_at", stamp(get("cancelled_at")))
        _set(record, "_deleted_at", stamp(get("deleted_at")))
        _set(record, "_purge_after", stamp(get("purge_after")))
        return record

    def __setattr__(self, name: str, value: object) -> NoReturn:
        msg = "a DirectoryTenant is read-only"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        return f"DirectoryTenant(id={self.id}, slug={self.slug!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DirectoryTenant):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash((self.id, self.version))

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The tenant's metadata (read-only view)."""
        return MappingProxyType(self._metadata)

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self._created_at, UTC)

    @property
    def updated_at(self) -> datetime:
        return datetime.fromtimestamp(self._updated_at, UTC)

    @property
    def trial_ends_at(self) -> datetime | None:
        return _instant(self._trial_ends_at)

    @property
    def grace_ends_at(self) -> datetime | None:
        return _instant(self._grace_ends_at)

    @property
    def activated_at(self) -> datetime | None:
        return _instant(self._activated_at)

    @property
    def paused_at(self) -> datetime | None:
        return _instant(self._paused_at)

    @property
    def cancelled_at(self) -> datetime | None:
        return _instant(self._cancelled_at)

    @property
    def deleted_at(self) -> datetime | None:
        return _instant(self._deleted_at)

    @property
    def purge_after(self) -> datetime | None:
        return _instant(self._purge_after)

    @property
    def is_deleted(self) -> bool:
        """Soft-deleted (still readable until purged)."""
        return self._deleted_at is not None

    def as_dict(self) -> dict[str, Any]:
        """Every field, as plain values (``metadata`` copied)."""
        document = {name: getattr(self, name) for name in FIELDS}
        document["metadata"] = dict(self._metadata)
        return document
