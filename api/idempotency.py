"""``Idempotency-Key``: the first response to a key is stored and replayed for 24 hours.

A request first *claims* its key (one ``INSERT … ON CONFLICT``): the winner runs the command,
anyone else gets the stored response, a 409 while the first is still running, or a 422 when
the key was used for another method, path or body. A command that writes events stores its
response in the same transaction as the events (``extra=`` of the registry), so a crash can
never leave events without their response or a response without its events. A claim that
ends without reaching the command (a 422 from validation, the database going away) is
released; a claim whose process died expires after :data:`LEASE`. A release that cannot reach
the database (it just went away) is remembered and done before this process's next claim, so
a client retrying after an outage is not refused as "in progress" until the lease runs out.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from api.problems import ProblemError
from application.recorder import Statement
from common.clock import Clock
from common.db import table
from common.settings import Settings
from common.tables import IDEMPOTENCY_TABLE

#: How long a stored response is replayed.
RETENTION = timedelta(hours=24)
#: How long a running claim blocks its key if its process never finishes it.
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
#: Share of claims that also delete expired records (a few hundred rows at most each time).
EXPIRE_EVERY = 1 / 256

ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


@dataclass(frozen=True)
class Claim:
    """The right to run one request for ``(api_key, key)``; ``lease_until`` identifies it."""

    api_key: str
    key: str
    lease_until: datetime


@dataclass(frozen=True)
class Replay:
    """The stored first response to a key."""

    status_code: int
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests "the same request"."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class IdempotencyStore:
    """Claims, finishes and releases idempotency records."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._clock = clock
        self._orphans: set[Claim] = set()  # released while the database was unreachable
        self._orphans_lock = threading.Lock()
        records = table(settings, IDEMPOTENCY_TABLE)
        self._sql_claim = sql.SQL(
            "INSERT INTO {t} AS r (api_key, key, fingerprint, state, created_at, lease_until)"
            " VALUES (%(api_key)s, %(key)s, %(fp)s, 'running', %(now)s, %(lease)s)"
            " ON CONFLICT (api_key, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " state = 'running', status_code = NULL, response = NULL, tenant_id = NULL,"
            " created_at = EXCLUDED.created_at, lease_until = EXCLUDED.lease_until"
            " WHERE r.created_at <= %(expired)s OR (r.state = 'running'"
            " AND r.lease_until < %(now)s AND r.fingerprint = EXCLUDED.fingerprint)"
            " RETURNING 1"
        ).format(t=records)
        self._sql_existing = sql.SQL(
            "SELECT fingerprint, state, status_code, response FROM {}"
            " WHERE api_key = %s AND key = %s"
        ).format(records)
        # Division by zero when the claim is no longer ours: the events roll back with it.
        self._sql_finish = sql.SQL(
            "WITH done AS (UPDATE {} SET state = 'done', status_code = %s, response = %s,"
            " tenant_id = %s WHERE api_key = %s AND key = %s AND state = 'running'"
            " AND lease_until = %s RETURNING 1) SELECT 1 / count(*) FROM done"
        ).format(records)
        self._sql_release = sql.SQL(
            "DELETE FROM {} WHERE api_key = %s AND key = %s AND state = 'running'"
            " AND lease_until = %s"
        ).format(records)
        self._sql_expire = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {t} WHERE created_at <= %s AND lease_until < %s LIMIT %s))"
        ).format(t=records)

    def claim(
        self, connection: ConnectionSource, api_key: str, key: str, print_: bytes
    ) -> Claim | Replay:
        """Claim ``key`` for this request, or say what to answer instead."""
        self._release_orphans(connection)
        if random.random() < EXPIRE_EVERY:  # noqa: S311 - spreading chores, not secrets
            self.expire(connection)
        for _ in range(5):
            now = self._clock.now()
            params = {
                "api_key": api_key,
                "key": key,
                "fp": print_,
                "now": now,
                "lease": now + LEASE,
                "expired": now - RETENTION,
            }
            with connection() as conn:
                if conn.execute(self._sql_claim, params, prepare=True).fetchone() is not None:
                    return Claim(api_key, key, now + LEASE)
                row = conn.execute(self._sql_existing, (api_key, key), prepare=True).fetchone()
            if row is None:
                continue  # released between the two statements: try again
            if bytes(row["fingerprint"]) != print_:
                raise ProblemError(
                    422,
                    "idempotency-key-reused",
                    "this idempotency key was used for a request with another method, path or body",
                )
            if row["state"] == "done":
                return Replay(int(row["status_code"]), bytes(row["response"]))
            raise ProblemError(
                409,
                "idempotency-key-in-progress",
                "a request with this idempotency key is still running; retry later",
                headers={"Retry-After": "1"},
            )
        msg = "idempotency key kept changing hands; retry"
        raise ProblemError(409, "idempotency-key-in-progress", msg, headers={"Retry-After": "1"})

    def finish_statement(
        self, claim: Claim, status_code: int, body: bytes, tenant_id: UUID | None
    ) -> Statement:
        """The statement that records the response (run it in the command's transaction)."""
        params = (status_code, body, tenant_id, claim.api_key, claim.key, claim.lease_until)
        return self._sql_finish, params

    def finish(
        self,
        connection: ConnectionSource,
        claim: Claim,
        status_code: int,
        body: bytes,
        tenant_id: UUID | None,
    ) -> None:
        """Record the response of a request that wrote no events."""
        statement, params = self.finish_statement(claim, status_code, body, tenant_id)
        # DivisionByZero: the lease expired and a retry took the key over; it answers for it.
        with connection() as conn, contextlib.suppress(psycopg.errors.DivisionByZero):
            conn.execute(statement, params)

    def expire(self, connection: ConnectionSource, limit: int = 1_000) -> int:
        """Delete up to ``limit`` records past their 24 hours; return how many went.

        Claims already ignore (and overwrite) such records; this keeps the table from growing
        without bound. Claims run it now and then, so no scheduled job is needed.
        """
        now = self._clock.now()
        with connection() as conn:
            cursor = conn.execute(self._sql_expire, (now - RETENTION, now, limit))
            return cursor.rowcount

    def release(self, connection: ConnectionSource, claim: Claim) -> None:
        """Give the key up: the request ended before reaching the command (or failed in it).

        If the database cannot be reached the claim is kept for :meth:`_release_orphans`.
        """
        try:
            with connection() as conn:
                conn.execute(self._sql_release, (claim.api_key, claim.key, claim.lease_until))
        except psycopg.Error:
            with self._orphans_lock:
                self._orphans.add(claim)
            raise

    def _release_orphans(self, connection: ConnectionSource) -> None:
        """Release the claims whose release failed (only ours: the lease identifies them)."""
        with self._orphans_lock:
            orphans = list(self._orphans)
        if not orphans:
            return
        with connection() as conn:
            for claim in orphans:
                conn.execute(self._sql_release, (claim.api_key, claim.key, claim.lease_until))
        with self._orphans_lock:
            self._orphans.difference_update(orphans)
