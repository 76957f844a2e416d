"""One combined, readable log for ``tenant-registry up``: ``api       | 12:00:01 INFO …``.

Children write structured JSON lines (their output is a pipe, not a terminal); this view turns
each one back into a short text line, so a developer reads one tidy stream. Lines that are not
our JSON (uvicorn's own, Redis's) pass through unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import datetime
from typing import Any, TextIO

import orjson

_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95")
_RESET = "\x1b[0m"
# Shown in the line itself, or noise (uvicorn's ``color_message`` repeats ``msg`` with escapes).
_KNOWN_KEYS = frozenset({"ts", "level", "logger", "msg", "color_message", "traceback"})


def use_colour(stream: TextIO) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def render(raw: bytes) -> str:
    """A child's output line as text: a JSON log record becomes ``time LEVEL logger: msg k=v``."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if not text.startswith("{"):
        return text
    try:
        record: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    if not isinstance(record, dict) or "msg" not in record:
        return text
    return _format_record(record)


def _format_record(record: dict[str, Any]) -> str:
    stamp = str(record.get("ts", ""))
    try:
        stamp = datetime.fromisoformat(stamp).astimezone().strftime("%H:%M:%S")
    except ValueError:
        stamp = stamp[:19]
    level = str(record.get("level", "")).upper()
    extras = " ".join(f"{k}={v}" for k, v in record.items() if k not in _KNOWN_KEYS)
    line = f"{stamp} {level:<5} {record.get('logger', '')}: {record['msg']}"
    line = f"{line} {extras}" if extras else line
    trace = record.get("traceback")
    # An error's traceback follows its line, indented, as a terminal shows it.
    return f"{line}\n{_indent(str(trace))}" if trace else line


def _indent(trace: str) -> str:
    return "\n".join(f"    {row}" for row in trace.rstrip().splitlines())


class LogSink:
    """Writes lines from many processes to one stream, each prefixed with its process's name."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self._colour = use_colour(self._stream) if colour is None else colour
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._width = 2
        self.register("up")

    def register(self, name: str) -> None:
        """Reserve a colour and column width for ``name``."""
        with self._lock:
            if name not in self._names:
                self._names[name] = "1" if name == "up" else _COLOURS[len(self._names) % 9]
                self._width = max(self._width, len(name))

    def line(self, name: str, text: str) -> None:
        """Write one line of ``name``'s output."""
        self.register(name)
        with self._lock:
            prefix = f"{name:<{self._width}} |"
            if self._colour:
                prefix = f"\x1b[{self._names[name]}m{prefix}{_RESET}"
            try:
                self._stream.write(f"{prefix} {text}\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the reader went away (e.g. `up | head`); keep supervising

    def child_line(self, name: str, raw: bytes) -> None:
        """Write one raw output line of a child process, rendered for reading."""
        self.line(name, render(raw))


#: Attributes every ``LogRecord`` has; the rest were given with ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class SinkHandler(logging.Handler):
    """Log records of the ``up`` process itself, as lines of the combined log (``up | …``),
    formatted like its children's: never a raw JSON line among the readable ones."""

    def __init__(self, sink: LogSink, name: str = "up") -> None:
        super().__init__()
        self.sink = sink
        self.source = name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {
                "ts": datetime.fromtimestamp(record.created).astimezone().isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
            fields.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS})
            if record.exc_info and record.exc_info[0] is not None:
                fields["error"] = record.exc_info[0].__name__
            self.sink.line(self.source, _format_record(fields))
        except Exception:
            self.handleError(record)
