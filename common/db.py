"""PostgreSQL connections for the pieces that do not go through the event store.

Nothing connects at import time: pools are built by the factories that need them.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from common.settings import Settings


def table(settings: Settings, name: str) -> sql.Identifier:
    """The schema-qualified identifier of one of the registry's tables."""
    return sql.Identifier(settings.db_schema, name)


def rendered(statement: sql.Composable) -> bytes:
    """A composed statement as the bytes psycopg sends, for a statement run on every request:
    psycopg renders a ``Composed`` again at each ``execute`` (about 20 us for a select of
    the 18 tenant columns), bytes it takes as they are. Identifiers only: no literal of
    ours needs a connection's escaping."""
    return statement.as_bytes(None)


def connect(settings: Settings, **kwargs: Any) -> psycopg.Connection[dict[str, Any]]:
    """One autocommit connection with dict rows."""
    return psycopg.connect(
        settings.database_url,
        autocommit=True,
        row_factory=dict_row,
        connect_timeout=5,
        **kwargs,
    )


#: A pooled connection is pinged before use at most this often. A ping on every checkout is a
#: round trip per request: it doubled the database work of ``GET /v1/tenants/{id}``. A
#: connection that broke since its last check fails its request (the caller answers 503) and
#: the pool replaces it.
CHECK_INTERVAL_SECONDS = 1.0


class ThrottledCheck:
    """A pool ``check`` that pings a connection only if it was not checked lately."""

    def __init__(self, interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._checked: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        if now - self._checked.get(conn, -self.interval) < self.interval and not conn.broken:
            return
        ConnectionPool.check_connection(conn)
        self._checked[conn] = now


def make_pool(
    settings: Settings,
    *,
    name: str,
    min_size: int = 1,
    max_size: int | None = None,
    utc: bool = False,
) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
    """A connection pool of autocommit, dict-row connections (opened lazily by the caller).

    ``utc``: the sessions run in UTC and decode ``jsonb`` with orjson, so that rows read
    from them serialise as the API shows them (timestamps in UTC) without a conversion per
    value in Python.
    """
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row, "connect_timeout": 5}
    return ConnectionPool(
        settings.database_url,
        name=name,
        min_size=min_size,
        max_size=max_size or max(min_size, settings.pool_size),
        open=False,
        timeout=5,
        reconnect_timeout=0,
        check=ThrottledCheck(),
        configure=_utc_session if utc else None,
        kwargs=kwargs,
    )


def _utc_session(conn: psycopg.Connection[Any]) -> None:
    # A SET, not a startup option: libpq's PGTZ would override ``options``.
    conn.execute("SET TimeZone TO 'UTC'")
    set_json_loads(orjson.loads, conn)
