"""Decoding stored event state as ``common.transcoder.OrjsonTranscoder`` does, but faster.

The transcoder walks every value looking for its ``{"_type_": …, "_data_": …}`` tags. In our
events the only tags are top-level datetimes, so: parse once, convert those, and count the
tag keys in the raw bytes. If any other tag is present (a nested one, a UUID, or user data
that needed escaping), the transcoder decodes the event instead, so the result is always
exactly the transcoder's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import orjson

from common.transcoder import OrjsonTranscoder

_TAG = b'"_type_"'


class StateDecoder:
    """Decodes the ``state`` column of stored events."""

    def __init__(self) -> None:
        self._transcoder = OrjsonTranscoder()

    def decode(self, data: bytes) -> dict[str, Any]:
        """The event's state with datetimes (and anything else tagged) restored."""
        state = orjson.loads(data)
        if type(state) is not dict:
            return cast(dict[str, Any], self._transcoder.decode(data))
        converted = 0
        for key, value in state.items():
            if type(value) is dict and value.get("_type_") == "datetime" and len(value) == 2:
                state[key] = datetime.fromisoformat(value["_data_"])
                converted += 1
        if data.count(_TAG) != converted:
            return cast(dict[str, Any], self._transcoder.decode(data))
        return state
