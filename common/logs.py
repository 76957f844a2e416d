"""Structured logs through ``structlog``, the standard library's records included.

Every record, ours (``logging.getLogger(__name__)``) or a library's, goes through one
``structlog`` processor chain and comes out as one line: JSON when standard error is not a
terminal (``ts``, ``level``, ``logger``, ``msg``, ``request_id`` and the ``extra=`` fields),
short readable text when it is. An exception adds ``error`` (its type), ``error_message`` and
``traceback`` (not for a service that cannot be reached: see :data:`OUTAGE_ERRORS`). Before a
line is written, the strings the current request sent are blanked out of it, and so is
anything shaped like an e-mail address: a traceback's exception message may quote input (a
validation error's ``input_value=…``), and input is where a tenant's personal data comes from.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import psycopg
import redis
import structlog
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from structlog.typing import EventDict, Processor, WrappedLogger

from common.request_context import current

REDACTED = "[redacted]"
#: A service that cannot be reached is an expected condition, handled by retrying: its type
#: and message say all there is (RQ logs a lost Redis with a traceback of its own code).
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    psycopg.OperationalError,  # PoolTimeout too
    StoreOperationalError,  # the event store's wrapping of psycopg's
    StoreInterfaceError,
)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _add_request_id(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    context = current()
    if context is not None:
        event.setdefault("request_id", context.request_id)
    return event


def _exception_fields(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """``exc_info`` as ``error`` (type), ``error_message`` and ``traceback`` (no locals)."""
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not exc_info or exc_info[0] is None:
        return event
    kind, value, tb = exc_info
    event["error"] = kind.__name__
    event["error_message"] = str(value)
    if not isinstance(value, OUTAGE_ERRORS):
        event["traceback"] = "".join(traceback.format_exception(kind, value, tb))
    return event


def _drop_noise(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's ``msg`` again, with terminal escapes
    return event


def _blank(text: str, sensitive: set[str]) -> str:
    for value in sensitive:
        if value in text:
            text = text.replace(value, REDACTED)
    return _EMAIL.sub(REDACTED, text)


def _redact(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Blank the request's own strings and e-mail addresses out of every string field."""
    context = current()
    sensitive = context.sensitive if context is not None else set()
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = _blank(value, sensitive)
        elif value is not None and not isinstance(value, int | float | bool):
            event[key] = _blank(str(value), sensitive)
    return event


_FIRST = ("ts", "level", "logger", "msg", "request_id")


def _json(_logger: WrappedLogger, _name: str, event: EventDict) -> str:
    ordered = {key: event.pop(key) for key in _FIRST if key in event}
    ordered.update(event)
    return orjson.dumps(ordered, default=str).decode()


def _text(_logger: WrappedLogger, _name: str, event: MutableMapping[str, Any]) -> str:
    stamp = str(event.pop("ts", ""))[11:19]
    level = str(event.pop("level", "")).upper()
    line = f"{stamp} {level:<5} {event.pop('logger', '')}: {event.pop('msg', '')}"
    trace = event.pop("traceback", None)
    extras = " ".join(f"{k}={v}" for k, v in event.items())
    line = f"{line} {extras}" if extras else line
    return f"{line}\n{trace.rstrip()}" if trace else line


#: What every record goes through, a ``structlog`` call or a standard library record.
SHARED: list[Processor] = [
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    _add_request_id,
]


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Send every log record to ``stream`` (standard error) in the format that suits it."""
    out = stream or sys.stderr
    use_json = not out.isatty() if json is None else json
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("msg"),
            _exception_fields,
            _drop_noise,
            _redact,
            _json if use_json else _text,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log carries query strings (search text): our access line replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
