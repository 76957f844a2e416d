"""Event evolution: the one path by which a stored event's state reaches its current version.

A changed event class gets a higher ``class_version`` and a static method
``upcast_v<N>_v<N+1>(state)`` per step, which edits the stored state in place (the library's
convention). Stored state carries ``class_version`` only from version 2 on. Every reader of
stored events calls :func:`upcast` — the aggregate (through ``application.mapper``), history
and feed (``application.events``), the projector and its rebuild (``projections.batch``) — so
old and new events read the same everywhere.
"""

from __future__ import annotations

from typing import Any


def upcast(cls: type[Any], state: dict[str, Any]) -> dict[str, Any]:
    """Bring ``state`` (stored by some version of ``cls``) to ``cls``'s current version.

    Removes the stored ``class_version`` key; returns ``state`` itself, changed in place.
    """
    stored = state.pop("class_version", 1)
    current: int = getattr(cls, "class_version", 1)
    while stored < current:
        getattr(cls, f"upcast_v{stored}_v{stored + 1}")(state)
        stored += 1
    return state
