"""The application's mapper: the library's, with upcasting done by ``domain.evolution.upcast``.

``eventsourcing``'s ``Mapper.to_domain_event`` walks the ``upcast_vN_vM`` chain itself; here
it calls the same function the projector and the history/feed readers call, so there is one
upcasting path for every reader of stored events.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from domain.evolution import upcast


class UpcastingMapper(Mapper[UUID]):
    """Converts stored events to domain events through :func:`domain.evolution.upcast`."""

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as exc:
            msg = (
                f"Failed to deserialise state of stored event with topic "
                f"{stored_event.topic!r}, originator_id {stored_event.originator_id!r} and "
                f"originator_version {stored_event.originator_version}: {exc}"
            )
            raise MapperDeserialisationError(msg) from exc
        convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        upcast(cls, state)
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], event)
