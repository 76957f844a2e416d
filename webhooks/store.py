"""The webhook tables: endpoints, deliveries and the dispatcher's cursor.

Every function takes an open autocommit connection with dict rows (the API's pool, the
dispatcher's or the delivery job's own). Delivery rows hold an event's position, tenant id and
type and the attempts' outcomes: never a payload, so a purge leaves nothing of a tenant here
beyond its id (which its tombstone keeps anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from common.settings import Settings
from common.tables import WEBHOOK_CURSOR_TABLE, WEBHOOK_DELIVERIES_TABLE, WEBHOOK_ENDPOINTS_TABLE

Conn = psycopg.Connection[dict[str, Any]]
CURSOR_NAME = "dispatcher"
DELIVERY_STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class Endpoint:
    """A registered receiver."""

    id: UUID
    url: str
    event_types: list[str]
    enabled: bool
    description: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    after_position: int
    created_at: datetime
    updated_at: datetime

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous one for its overlap."""
        live = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            live.append(self.previous_secret)
        return live


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the dispatcher or a replay creates."""

    endpoint_id: UUID
    position: int
    tenant_id: UUID
    event_type: str


class WebhookStore:
    """SQL of the webhook tables, composed once per schema."""

    def __init__(self, settings: Settings) -> None:
        schema = settings.db_schema
        self.endpoints = sql.Identifier(schema, WEBHOOK_ENDPOINTS_TABLE)
        self.deliveries = sql.Identifier(schema, WEBHOOK_DELIVERIES_TABLE)
        self.cursor = sql.Identifier(schema, WEBHOOK_CURSOR_TABLE)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(
            endpoints=self.endpoints, deliveries=self.deliveries, cursor=self.cursor
        )

    # ---- the dispatcher's cursor ------------------------------------------------------------

    def lock_cursor(self, conn: Conn, head_if_missing: int) -> int:
        """The dispatcher's position, locked until the transaction ends (created at
        ``head_if_missing`` if absent). Endpoint creation and dispatch serialise on it."""
        conn.execute(
            self._q("INSERT INTO {cursor} (name, position) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
            (CURSOR_NAME, head_if_missing),
        )
        row = conn.execute(
            self._q("SELECT position FROM {cursor} WHERE name = %s FOR UPDATE"), (CURSOR_NAME,)
        ).fetchone()
        assert row is not None  # noqa: S101 - inserted above
        return int(row["position"])

    def move_cursor(self, conn: Conn, position: int) -> None:
        conn.execute(
            self._q("UPDATE {cursor} SET position = %s WHERE name = %s"), (position, CURSOR_NAME)
        )

    # ---- endpoints ----------------------------------------------------------------------------

    def create_endpoint(
        self,
        conn: Conn,
        *,
        endpoint_id: UUID,
        url: str,
        event_types: Sequence[str],
        enabled: bool,
        description: str,
        secret: str,
        now: datetime,
        head: int,
    ) -> Endpoint:
        """A new endpoint that receives every event committed after ``head`` (the store's head
        when it was created).

        Under the cursor's lock, so the dispatcher cannot pass an event that the endpoint should
        get. Not from the cursor alone: a cursor left behind (seeded at an empty store's head by
        ``migrate``, then no dispatcher ran while events accumulated) would hand a new endpoint
        the whole history; ``replay`` is how an endpoint asks for the past.
        """
        with conn.transaction():
            after = max(self.lock_cursor(conn, head), head)
            row = conn.execute(
                self._q(
                    "INSERT INTO {endpoints} (id, url, event_types, enabled, description, secret,"
                    " after_position, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *"
                ),
                (
                    endpoint_id,
                    url,
                    list(event_types),
                    enabled,
                    description,
                    secret,
                    after,
                    now,
                    now,
                ),
            ).fetchone()
        assert row is not None  # noqa: S101 - RETURNING
        return Endpoint(**row)

    def get_endpoint(self, conn: Conn, endpoint_id: UUID) -> Endpoint | None:
        row = conn.execute(
            self._q("SELECT * FROM {endpoints} WHERE id = %s"), (endpoint_id,)
        ).fetchone()
        return None if row is None else Endpoint(**row)

    def list_endpoints(self, conn: Conn, *, enabled_only: bool = False) -> list[Endpoint]:
        rows = conn.execute(
            self._q("SELECT * FROM {endpoints} WHERE enabled OR NOT %s ORDER BY created_at, id"),
            (enabled_only,),
        ).fetchall()
        return [Endpoint(**row) for row in rows]

    def update_endpoint(
        self, conn: Conn, endpoint_id: UUID, changes: dict[str, Any], now: datetime
    ) -> Endpoint | None:
        """Change ``url``, ``event_types``, ``enabled`` or ``description``."""
        allowed = ("url", "event_types", "enabled", "description")
        assignments = [
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in allowed if k in changes
        ]
        params = [changes[k] for k in allowed if k in changes]
        statement = sql.SQL("UPDATE {} SET {}, updated_at = %s WHERE id = %s RETURNING *").format(
            self.endpoints, sql.SQL(", ").join(assignments) if assignments else sql.SQL("id = id")
        )
        row = conn.execute(statement, (*params, now, endpoint_id)).fetchone()
        return None if row is None else Endpoint(**row)

    def rotate_secret(
        self, conn: Conn, endpoint_id: UUID, secret: str, now: datetime, overlap_until: datetime
    ) -> Endpoint | None:
        """Make ``secret`` current; the current one keeps signing until ``overlap_until``."""
        row = conn.execute(
            self._q(
                "UPDATE {endpoints} SET previous_secret = secret, previous_secret_until = %s,"
                " secret = %s, updated_at = %s WHERE id = %s RETURNING *"
            ),
            (overlap_until, secret, now, endpoint_id),
        ).fetchone()
        return None if row is None else Endpoint(**row)

    def delete_endpoint(self, conn: Conn, endpoint_id: UUID) -> bool:
        """Delete an endpoint and its delivery log; False if there was none."""
        cur = conn.execute(self._q("DELETE FROM {endpoints} WHERE id = %s"), (endpoint_id,))
        return cur.rowcount > 0

    # ---- deliveries ---------------------------------------------------------------------------

    def add_deliveries(self, conn: Conn, new: Sequence[NewDelivery], now: datetime) -> None:
        """Pending deliveries, due now."""
        if not new:
            return
        conn.execute(
            self._q(
                "INSERT INTO {deliveries} (endpoint_id, position, tenant_id, event_type,"
                " next_attempt_at, created_at, updated_at)"
                " SELECT e, p, t, y, %s, %s, %s"
                " FROM unnest(%s::uuid[], %s::bigint[], %s::uuid[], %s::text[]) AS d (e, p, t, y)"
            ),
            (
                now,
                now,
                now,
                [d.endpoint_id for d in new],
                [d.position for d in new],
                [d.tenant_id for d in new],
                [d.event_type for d in new],
            ),
        )

    def drop_pending_of_tenant(self, conn: Conn, tenant_id: UUID, before: int) -> int:
        """Drop the pending deliveries of a purged tenant's events (they can't be built)."""
        cur = conn.execute(
            self._q(
                "DELETE FROM {deliveries} WHERE tenant_id = %s AND status = 'pending'"
                " AND position < %s"
            ),
            (tenant_id, before),
        )
        return cur.rowcount

    def due(self, conn: Conn, endpoint_id: UUID, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The endpoint's pending deliveries that are due, in position order."""
        return conn.execute(
            self._q(
                "SELECT id, position, attempt FROM {deliveries}"
                " WHERE endpoint_id = %s AND status = 'pending' AND next_attempt_at <= %s"
                " ORDER BY position, id LIMIT %s"
            ),
            (endpoint_id, now, limit),
        ).fetchall()

    def endpoints_due(self, conn: Conn, before: datetime) -> list[UUID]:
        """Enabled endpoints with a delivery due before ``before`` (retries, orphans)."""
        rows = conn.execute(
            self._q(
                "SELECT DISTINCT d.endpoint_id FROM {deliveries} AS d"
                " JOIN {endpoints} AS e ON e.id = d.endpoint_id AND e.enabled"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= %s"
            ),
            (before,),
        ).fetchall()
        return [row["endpoint_id"] for row in rows]

    def oldest_pending(self, conn: Conn) -> datetime | None:
        row = conn.execute(
            self._q("SELECT min(created_at) AS oldest FROM {deliveries} WHERE status = 'pending'")
        ).fetchone()
        return None if row is None else row["oldest"]

    def record_attempt(
        self,
        conn: Conn,
        delivery_id: int,
        *,
        status: str,
        attempt: int,
        http_status: int | None,
        error: str | None,
        duration_ms: float,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> None:
        conn.execute(
            self._q(
                "UPDATE {deliveries} SET status = %s, attempt = %s, http_status = %s, error = %s,"
                " duration_ms = %s, next_attempt_at = %s, updated_at = %s WHERE id = %s"
            ),
            (status, attempt, http_status, error, duration_ms, next_attempt_at, now, delivery_id),
        )

    def drop_delivery(self, conn: Conn, delivery_id: int) -> None:
        conn.execute(self._q("DELETE FROM {deliveries} WHERE id = %s"), (delivery_id,))

    def deliveries_page(
        self,
        conn: Conn,
        endpoint_id: UUID,
        *,
        status: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The delivery log, newest first, a page at a time (keyset on the delivery id)."""
        return conn.execute(
            self._q(
                "SELECT id, endpoint_id, position, tenant_id, event_type, status, attempt,"
                " http_status, error, duration_ms, next_attempt_at, created_at, updated_at"
                " FROM {deliveries} WHERE endpoint_id = %s"
                " AND (%s::text IS NULL OR status = %s) AND (%s::bigint IS NULL OR id < %s)"
                " ORDER BY id DESC LIMIT %s"
            ),
            (endpoint_id, status, status, before_id, before_id, limit),
        ).fetchall()
