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
#: Body fields whose values are not personal data (SPEC §2: PII is name, e-mail, metadata):
#: blanking them would only blank words of the log (a plan named ``api``).
NOT_PERSONAL = frozenset({"slug", "plan", "timezone", "trial_days"})


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
        """Remember the strings of a request body that may be personal data: every string
        value except those of :data:`NOT_PERSONAL`, and the keys of nested objects (metadata
        keys); not the top-level field names."""
        if isinstance(document, dict):
            for key, value in document.items():
                if key not in NOT_PERSONAL:
                    self._add_strings(value)
        else:
            self._add_strings(document)

    def _add_strings(self, value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= MIN_SENSITIVE_LENGTH:
                self.sensitive.add(value)
                escaped = repr(value)[1:-1]  # how a ``repr`` in a message shows it
                if escaped != value:
                    self.sensitive.add(escaped)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._add_strings(key)
                self._add_strings(item)
        elif isinstance(value, list):
            for item in value:
                self._add_strings(item)


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
