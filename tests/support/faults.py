"""Test-only fault injection for the API, and a way to read what the logs wrote.

``FaultyRegistry`` is the real write model whose ``register`` fails the way a bug would: an
unexpected exception whose message quotes the input (a ``RuntimeError`` holding the ``repr``
of the fields, caused by a pydantic ``ValidationError`` with its ``input_value``s). Nothing
of it ships: the app takes it through ``create_app(registry=…)``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from application.registry import CommandResult, TenantRegistry
from common.logs import configure_logging


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True)

    name: int
    contact_email: int
    metadata: int


class FaultyRegistry(TenantRegistry):
    """Registers nothing: every ``register`` raises an unexpected, input-quoting error."""

    def register(self, **fields: Any) -> CommandResult:
        try:
            _Strict.model_validate(fields)  # raises, quoting the input
        except ValidationError as exc:
            msg = f"cannot register {fields!r}"
            raise RuntimeError(msg) from exc
        raise AssertionError  # pragma: no cover - model_validate raised


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the block as JSON, in a buffer (the root logger is put back)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("INFO", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """The JSON objects the buffer holds, one per line."""
    return [orjson.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
