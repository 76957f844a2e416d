"""The request (or run) a log line belongs to, for every layer's logs.

A context variable holds the current :class:`RequestContext`: its id goes into every log line
and its ``sensitive`` strings (what the client sent) are blanked out of them, tracebacks
included. The API sets it per request; a sweep run or a CLI invocation may set its own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

#: What a caller's ``X-Request-ID`` may be (SPEC §11); anything else is replaced.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Strings shorter than this are not blanked (they would blank half of every line).
MIN_SENSITIVE_LENGTH = 3


def new_request_id() -> str:
    """A fresh id of the accepted form: 32 hex digits."""
    return secrets.token_hex(16)


def accepted_request_id(presented: str | None) -> str:
    """The caller's id when it has the accepted form, else a new one."""
    if presented is not None and REQUEST_ID.fullmatch(presented):
        return presented
    return new_request_id()


@dataclass
class RequestContext:
    """One request's (or run's) id and the strings its logs must not show."""

    request_id: str
    sensitive: set[str] = field(default_factory=set)
    #: The route template that matched and the API key's name, once known (the access line).
    route: str | None = None
    key_name: str | None = None

    def add_sensitive(self, document: Any) -> None:
        """Remember every string (keys too) in a decoded JSON document."""
        if isinstance(document, str):
            if len(document) >= MIN_SENSITIVE_LENGTH:
                self.sensitive.add(document)
                escaped = repr(document)[1:-1]  # how a ``repr`` in a message shows it
                if escaped != document:
                    self.sensitive.add(escaped)
        elif isinstance(document, dict):
            for key, value in document.items():
                self.add_sensitive(key)
                self.add_sensitive(value)
        elif isinstance(document, list):
            for item in document:
                self.add_sensitive(item)


_current: ContextVar[RequestContext | None] = ContextVar("tenant_registry_request", default=None)


def current() -> RequestContext | None:
    """The context of the request being handled, if any."""
    return _current.get()


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    context = _current.get()
    return None if context is None else context.request_id


@contextmanager
def request_context(request_id: str) -> Iterator[RequestContext]:
    """Make ``request_id`` the current one for the code inside."""
    context = RequestContext(request_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
