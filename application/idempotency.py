"""``Idempotency-Key``: the first answer to a key is stored and replayed for 24 hours.

A request first *claims* its key (one ``INSERT … ON CONFLICT``): the winner runs the command,
anyone else gets the stored answer (:class:`Replay`), :class:`IdempotencyKeyInProgress` while
the first is still running, or :class:`IdempotencyKeyReused` when the key was used for another
method, path or body. Every answer — a change, a no-op, a refusal — is an :class:`Answer`
saved by the recorder in a transaction that also checks the tenant was not purged (and, for a
no-op, that it is still at the version the answer was decided on), under the lock a purge
takes: an answer can never outlive its tenant's purge, and a purge deletes every answer about
the tenant. A claim that ends without an answer (invalid input, a lost race, the database
going away) is released; a claim whose process died expires after :data:`LEASE`.

Fingerprints are keyed hashes (HMAC-SHA-256 with a secret of the deployment), so a stored
fingerprint cannot confirm a guess of the name or e-mail address a request carried.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from common.clock import Clock
from common.db import table
from common.settings import Settings
from common.tables import IDEMPOTENCY_TABLE, SECRETS_TABLE

#: How long a stored answer is replayed.
RETENTION = timedelta(hours=24)
#: How long a running claim blocks its key if its process never finishes it.
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
#: Share of claims that also delete expired records (a few hundred rows at most each time).
EXPIRE_EVERY = 1 / 256
#: Name of the deployment's fingerprint key in the secrets table (when settings give none).
FINGERPRINT_KEY_NAME = "idempotency-fingerprint"

ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class IdempotencyError(Exception):
    """Base of the idempotency refusals (the API answers them as problems)."""


class IdempotencyKeyReused(IdempotencyError):
    """The key was used for a request with another method, path or body."""


class IdempotencyKeyInProgress(IdempotencyError):
    """A request with this key is still running (or just took the key over)."""


class ClaimLost(IdempotencyKeyInProgress):
    """This request outlived its lease and a retry took the key over; it answers for it."""

    def __init__(self) -> None:
        super().__init__("this request outlived its idempotency lease and a retry took it over")


@dataclass(frozen=True)
class IdempotentRequest:
    """What identifies one request under a key, and the status it answers when it succeeds."""

    api_key: str
    key: str
    method: str
    path: str
    body: bytes
    success_status: int = 200
    #: The tenant the request is about (a refusal's answer is deleted with its purge).
    tenant_id: UUID | None = None


@dataclass(frozen=True)
class Claim:
    """The right to answer one request for ``(api_key, key)``; ``lease_until`` identifies it."""

    api_key: str
    key: str
    lease_until: datetime
    success_status: int = 200


@dataclass(frozen=True)
class Replay:
    """The stored first answer to a key."""

    status_code: int
    body: bytes


@dataclass(frozen=True)
class Answer:
    """The answer to store for a claim, saved by the recorder (``tenant_id``: whom it is about;
    a purge of that tenant deletes it)."""

    claim: Claim
    status_code: int
    body: bytes
    tenant_id: UUID | None


def fingerprint(secret: bytes, method: str, path: str, body: bytes) -> bytes:
    """What makes two requests "the same request", keyed: it cannot confirm a guessed body."""
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class IdempotencyStore:
    """Claims, releases and expires idempotency records (answers are saved by the recorder)."""

    def __init__(self, settings: Settings, clock: Clock, connection: ConnectionSource) -> None:
        self._clock = clock
        self._connection = connection
        configured = settings.idempotency_secret
        self._secret: bytes | None = (
            configured.get_secret_value().encode() if configured is not None else None
        )
        self._orphans: set[Claim] = set()  # released while the database was unreachable
        self._lock = threading.Lock()
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
        self._sql_release = sql.SQL(
            "DELETE FROM {} WHERE api_key = %s AND key = %s AND state = 'running'"
            " AND lease_until = %s"
        ).format(records)
        self._sql_expire = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {t} WHERE created_at <= %s AND lease_until < %s LIMIT %s))"
        ).format(t=records)
        secrets_table = table(settings, SECRETS_TABLE)
        self._sql_secret = [
            sql.SQL("INSERT INTO {} (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING").format(
                secrets_table
            ),
            sql.SQL("SELECT value FROM {} WHERE name = %s").format(secrets_table),
        ]

    def claim(self, request: IdempotentRequest) -> Claim | Replay:
        """Claim the request's key, or return the stored answer to replay.

        Raises :class:`IdempotencyKeyReused` or :class:`IdempotencyKeyInProgress`.
        """
        self._release_orphans()
        if random.random() < EXPIRE_EVERY:  # noqa: S311 - spreading chores, not secrets
            self.expire()
        print_ = fingerprint(self._fingerprint_secret(), request.method, request.path, request.body)
        api_key, key = request.api_key, request.key
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
            with self._connection() as conn:
                if conn.execute(self._sql_claim, params, prepare=True).fetchone() is not None:
                    return Claim(api_key, key, now + LEASE, request.success_status)
                row = conn.execute(self._sql_existing, (api_key, key), prepare=True).fetchone()
            if row is None:
                continue  # released between the two statements: try again
            if not hmac.compare_digest(bytes(row["fingerprint"]), print_):
                msg = (
                    "this idempotency key was used for a request with another method, path or body"
                )
                raise IdempotencyKeyReused(msg)
            if row["state"] == "done":
                return Replay(int(row["status_code"]), bytes(row["response"]))
            msg = "a request with this idempotency key is still running; retry later"
            raise IdempotencyKeyInProgress(msg)
        msg = "idempotency key kept changing hands; retry"
        raise IdempotencyKeyInProgress(msg)

    def expire(self, limit: int = 1_000) -> int:
        """Delete up to ``limit`` records past their 24 hours; return how many went.

        Claims already ignore (and overwrite) such records; this keeps the table from growing
        without bound. Claims run it now and then, so no scheduled job is needed.
        """
        now = self._clock.now()
        with self._connection() as conn:
            cursor = conn.execute(self._sql_expire, (now - RETENTION, now, limit))
            return cursor.rowcount

    def release(self, claim: Claim) -> None:
        """Give the key up: the request ended without an answer to store.

        If the database cannot be reached the claim is kept and released before this store's
        next claim, so a client retrying after an outage is not refused until the lease ends.
        """
        try:
            with self._connection() as conn:
                conn.execute(self._sql_release, (claim.api_key, claim.key, claim.lease_until))
        except psycopg.Error:
            with self._lock:
                self._orphans.add(claim)
            raise

    def _release_orphans(self) -> None:
        """Release the claims whose release failed (only ours: the lease identifies them)."""
        with self._lock:
            orphans = list(self._orphans)
        if not orphans:
            return
        with self._connection() as conn:
            for claim in orphans:
                conn.execute(self._sql_release, (claim.api_key, claim.key, claim.lease_until))
        with self._lock:
            self._orphans.difference_update(orphans)

    def _fingerprint_secret(self) -> bytes:
        """The settings' secret, or the deployment's own, created once in the database."""
        if self._secret is not None:
            return self._secret
        insert, select = self._sql_secret
        with self._connection() as conn:
            conn.execute(insert, (FINGERPRINT_KEY_NAME, secrets.token_bytes(32)))
            row = conn.execute(select, (FINGERPRINT_KEY_NAME,)).fetchone()
        if row is None:  # pragma: no cover - the insert above guarantees a row
            msg = "the fingerprint secret could not be stored"
            raise RuntimeError(msg)
        value = row["value"] if isinstance(row, dict) else row[0]
        self._secret = bytes(value)
        return self._secret
