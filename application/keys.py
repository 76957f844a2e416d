"""API keys: created by the CLI, stored hashed, checked on every ``/v1`` request (the store;
the API's dependencies in :mod:`api.auth` ask it).

A key reads ``<key_id>.<secret>``. Only the SHA-256 of the secret is stored: the secret is 32
random bytes, so a fast hash is enough (nothing to brute-force), and the comparison is
constant-time. The secret is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from common.db import connect, table
from common.settings import Settings

API_KEYS_TABLE = "api_keys"

READ = "tenants:read"
WRITE = "tenants:write"
DELETE = "tenants:delete"
ADMIN = "admin"
#: Every scope a key can hold; ``admin`` grants all of them.
SCOPES: tuple[str, ...] = (READ, WRITE, DELETE, ADMIN)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
#: How long a looked-up key is trusted without asking the database again (revocation delay).
CACHE_SECONDS = 1.0


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked (bad name, unknown scope, no such key)."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """Whether the key may do what ``scope`` covers."""
        return ADMIN in self.scopes or scope in self.scopes


def parse_scopes(text: str) -> tuple[str, ...]:
    """``"a,b"`` as a tuple of known scopes; unknown names are refused with the valid ones."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        msg = f"unknown scope(s) {', '.join(unknown) or '(none given)'}; use {', '.join(SCOPES)}"
        raise ApiKeyError(msg)
    return scopes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def create_table(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """DDL of the keys table (idempotent). Names are unique among keys not revoked."""
    keys = table(settings, API_KEYS_TABLE)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " key_id text PRIMARY KEY,"
            " name text NOT NULL,"
            " secret_sha256 bytea NOT NULL,"
            " scopes text[] NOT NULL,"
            " created_at timestamptz NOT NULL,"
            " revoked_at timestamptz)"
        ).format(keys)
    )
    conn.execute(
        sql.SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (name) WHERE revoked_at IS NULL"
        ).format(sql.Identifier(f"{API_KEYS_TABLE}_active_name_idx"), keys)
    )


def migrate_keys(settings: Settings) -> None:
    """Create the keys table (``tenant-registry migrate``); safe to repeat."""
    with connect(settings) as conn:
        create_table(conn, settings)


class KeyAdmin:
    """Create, list and revoke keys (the ``api-keys`` CLI)."""

    def __init__(self, conn: psycopg.Connection[Any], settings: Settings) -> None:
        self._conn = conn
        self._table = table(settings, API_KEYS_TABLE)

    def create(self, name: str, scopes: tuple[str, ...], now: datetime) -> tuple[ApiKey, str]:
        """Store a new key; return it and the full key text (shown only this once)."""
        if not _NAME.match(name):
            msg = "name must be 1-64 letters, digits, '.', '_' or '-', starting alnum"
            raise ApiKeyError(msg)
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        try:
            self._conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key_id, name, secret_sha256, scopes, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)"
                ).format(self._table),
                (key_id, name, _digest(secret), list(scopes), now),
            )
        except psycopg.errors.UniqueViolation:
            msg = f"an active key named {name!r} already exists"
            raise ApiKeyError(msg) from None
        return ApiKey(key_id, name, scopes, now, None), f"{key_id}.{secret}"

    def list(self) -> list[ApiKey]:
        """Every key, newest first, revoked ones included."""
        with self._conn.cursor(row_factory=dict_row) as curs:
            curs.execute(
                sql.SQL(
                    "SELECT key_id, name, scopes, created_at, revoked_at FROM {}"
                    " ORDER BY created_at DESC, name"
                ).format(self._table)
            )
            return [_to_key(row) for row in curs.fetchall()]

    def revoke(self, name: str, now: datetime) -> ApiKey:
        """Revoke the active key called ``name``."""
        with self._conn.cursor(row_factory=dict_row) as curs:
            curs.execute(
                sql.SQL(
                    "UPDATE {} SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
                    " RETURNING key_id, name, scopes, created_at, revoked_at"
                ).format(self._table),
                (now, name),
            )
            row = curs.fetchone()
        if row is None:
            msg = f"no active API key named {name!r}"
            raise ApiKeyError(msg)
        return _to_key(row)


def _to_key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _parse(presented: str) -> tuple[str, str] | None:
    key_id, dot, secret = presented.partition(".")
    if not dot or not _KEY_ID.match(key_id) or not secret:
        return None
    return key_id, secret


def _check(row: dict[str, Any] | None, secret: str) -> ApiKey | None:
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
        return None
    return _to_key(row)


class KeyVerifier:
    """Checks presented keys against the table, caching each lookup for at most a second."""

    def __init__(self, settings: Settings) -> None:
        self._sql = sql.SQL(
            "SELECT key_id, name, scopes, created_at, revoked_at, secret_sha256 FROM {}"
            " WHERE key_id = %s"
        ).format(table(settings, API_KEYS_TABLE))
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def verify(self, presented: str, conn_source: Any) -> ApiKey | None:
        """The active key ``presented`` names, or None (unknown, malformed, wrong, revoked).

        ``conn_source`` is a callable giving a connection context (only used on a cache miss).
        """
        parsed = _parse(presented)
        if parsed is None:
            return None
        return _check(self._lookup(parsed[0], conn_source), parsed[1])

    def cached(self, presented: str) -> tuple[bool, ApiKey | None]:
        """``(True, key or None)`` when the answer is known without the database."""
        parsed = _parse(presented)
        if parsed is None:
            return True, None
        hit = self._cache.get(parsed[0])
        if hit is None or time.monotonic() - hit[0] >= CACHE_SECONDS:
            return False, None
        return True, _check(hit[1], parsed[1])

    def _lookup(self, key_id: str, conn_source: Any) -> dict[str, Any] | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        with conn_source() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql, (key_id,), prepare=True)
            row: dict[str, Any] | None = curs.fetchone()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()  # unknown ids from scanners must not grow it forever
            self._cache[key_id] = (now, row)
        return row
