"""An orjson transcoder for stored events that cannot confuse user data with its own tags.

The library's ``JSONTranscoder`` tags non-JSON values as ``{"_type_": …, "_data_": …}`` and
decodes *any* two-key dict of that shape, so a tenant whose metadata holds such an object
would come back changed or fail to load. Here a user dict of that shape is escaped on the way
in, so every stored event decodes to exactly what was recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder, Transcoding

_TAG_KEYS = frozenset(("_type_", "_data_"))


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == _TAG_KEYS:
            return {"_type_": "dict", "_data_": [[k, _encode(v)] for k, v in value.items()]}
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, datetime):
        return {"_type_": "datetime", "_data_": value.isoformat()}
    if isinstance(value, UUID):
        return {"_type_": "uuid", "_data_": value.hex}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == _TAG_KEYS:
            kind, data = value["_type_"], value["_data_"]
            if kind == "datetime":
                return datetime.fromisoformat(data)
            if kind == "uuid":
                return UUID(data)
            if kind == "dict":
                return {k: _decode(v) for k, v in data}
            msg = f"unknown stored type tag {kind!r}"
            raise ValueError(msg)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class OrjsonTranscoder(Transcoder):
    """Encodes event state as compact JSON with tagged datetimes and UUIDs."""

    def register(self, transcoding: Transcoding) -> None:
        """Not needed: the types this store holds are built in."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_encode(obj))

    def decode(self, data: bytes) -> Any:
        return _decode(orjson.loads(data))
