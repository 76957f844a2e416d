"""What the routes share: settings, clock, and the lazily built write model, read model and pool.

Nothing here connects when it is built. Each backend is created on first use; when the
database returns after an outage the gate asks for a rebuild, and the next request builds
fresh ones (the old ones are closed in the background).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from api.gate import DatabaseGate
from api.keys import ApiKey, KeyVerifier
from api.metrics import Metrics
from application.idempotency import IdempotencyStore
from application.registry import TenantRegistry
from common.clock import Clock, SystemClock
from common.db import make_pool
from common.settings import Settings
from projections.queries import ReadModel

log = logging.getLogger(__name__)

T = TypeVar("T")
Pool = ConnectionPool[psycopg.Connection[dict[str, Any]]]


class ApiContext:
    """One per app: the services behind the routes."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        registry: TenantRegistry | None = None,
        read_model: ReadModel | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.gate = DatabaseGate(settings, on_recovery=self.rebuild)
        self.keys = KeyVerifier(settings)
        self.idempotency = IdempotencyStore(settings, self.clock, self.connection)
        self.metrics = Metrics()
        # Backends handed in by the caller are theirs to close, and are never rebuilt.
        self._given_registry = registry
        self._given_read_model = read_model
        self._registry = registry
        self._read_model = read_model
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def registry(self) -> TenantRegistry:
        """The write model (built on first use)."""
        return self._get("_registry", lambda: TenantRegistry(self.settings, self.clock))

    def read_model(self) -> ReadModel:
        """The read model (built on first use)."""
        return self._get("_read_model", lambda: ReadModel(self.settings, self.clock))

    def connection(self) -> AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        """A pooled autocommit connection for the API's own tables (keys, idempotency)."""
        pool = self._get("_pool", self._new_pool)
        return pool.connection()

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` names (503 while the database is down)."""
        self.gate.check()
        return self.keys.verify(presented, self.connection)

    def authenticate_cached(self, presented: str) -> tuple[bool, ApiKey | None]:
        """Like :meth:`authenticate` when it needs no I/O: ``(False, None)`` otherwise."""
        if self.gate.probe_due():
            return False, None
        self.gate.raise_if_down()
        return self.keys.cached(presented)

    def rebuild(self) -> None:
        """Drop the backends we built; the next request builds fresh ones."""
        with self._lock:
            old: list[Any] = [self._pool]
            self._pool = None
            if self._given_registry is None:
                old.append(self._registry)
                self._registry = None
            if self._given_read_model is None:
                old.append(self._read_model)
                self._read_model = None
        threading.Thread(target=_close_all, args=(old,), daemon=True).start()

    def close(self) -> None:
        """Close what this context built, and the gate's probe connection."""
        with self._lock:
            owned: list[Any] = [self._pool]
            if self._given_registry is None:
                owned.append(self._registry)
            if self._given_read_model is None:
                owned.append(self._read_model)
            self._pool = self._registry = self._read_model = None
        _close_all(owned)
        self.gate.close()

    def _new_pool(self) -> Pool:
        pool = make_pool(self.settings, name="api", min_size=1)
        pool.open(wait=False)
        return pool

    def _get(self, attribute: str, build: Callable[[], T]) -> T:
        value: T | None = getattr(self, attribute)
        if value is not None:
            return value
        with self._lock:
            value = getattr(self, attribute)
            if value is None:
                value = build()
                setattr(self, attribute, value)
            return value


def _close_all(things: list[Any]) -> None:
    for thing in things:
        if thing is None:
            continue
        try:
            thing.close()
        except Exception:  # best effort while the database comes back
            log.debug("closing %s failed", type(thing).__name__, exc_info=True)
