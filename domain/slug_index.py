"""Slug uniqueness: an index aggregate whose id is derived from the slug.

Registering a tenant also creates ``SlugIndex(slug)`` in the same transaction. Its id is a
UUIDv5 of the slug, so a second registration of the slug collides on version 1 of the same
aggregate and fails atomically. Purge deletes the index entry, which frees the slug.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:tenant-registry:slug")


class SlugIndex(Aggregate):
    """Which tenant holds a slug."""

    TOPIC = "tenant-registry:SlugIndex"

    tenant_id: UUID

    class Event(Aggregate.Event):
        TOPIC = "tenant-registry:SlugIndexEvent"

    class Created(Event, Aggregate.Created):
        TOPIC = "tenant-registry:SlugClaimed"
        class_version = 1
        slug: str
        tenant_id: UUID

        def apply(self, index: SlugIndex) -> None:
            index.tenant_id = self.tenant_id

    def __init__(self) -> None:
        """State is set by :class:`SlugIndex.Created` (the slug was claimed)."""

    @staticmethod
    def id_for(slug: str) -> UUID:
        return uuid5(_NAMESPACE, slug)

    @classmethod
    def claim(cls, *, slug: str, tenant_id: UUID, now: datetime) -> SlugIndex:
        return cls._create(
            cls.Created, id=cls.id_for(slug), timestamp=now, slug=slug, tenant_id=tenant_id
        )
