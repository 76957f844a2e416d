"""The read side's fast state decoder gives exactly what the store's transcoder gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from common.transcoder import OrjsonTranscoder
from projections.decoding import StateDecoder

NOW = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)

STATES: list[dict[str, Any]] = [
    {"timestamp": NOW, "actor": "key:ops", "reason": None},
    {"timestamp": NOW, "actor": "x", "reason": "r", "grace_ends_at": NOW, "purge_after": NOW},
    {"timestamp": NOW, "actor": "x", "metadata": {"plain": [1, 2, {"a": None}]}},
    {"timestamp": NOW, "actor": "x", "metadata": {"_type_": "datetime", "_data_": "no"}},
    {"timestamp": NOW, "actor": "x", "changes": {"metadata": {"when": NOW}}},
    {"timestamp": NOW, "actor": "x", "metadata": {"k": "_type_", "_type_": 1}},
    {"timestamp": NOW, "actor": "x", "reason": 'says "_type_" aloud'},
    {"timestamp": NOW, "actor": "x", "ref": uuid4()},
]


@pytest.mark.parametrize("state", STATES)
def test_fast_decoder_agrees_with_the_transcoder(state: dict[str, Any]) -> None:
    data = OrjsonTranscoder().encode(state)
    decoded = StateDecoder().decode(data)
    assert decoded == OrjsonTranscoder().decode(data) == state
