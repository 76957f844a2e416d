"""The webhook tables (``tenant-registry migrate``); safe to repeat."""

from __future__ import annotations

from psycopg import sql

from common.db import connect, table
from common.settings import Settings
from common.tables import (
    EVENTS_TABLE,
    WEBHOOK_CURSOR_TABLE,
    WEBHOOK_DELIVERIES_TABLE,
    WEBHOOK_ENDPOINTS_TABLE,
)

_DDL = """
CREATE TABLE IF NOT EXISTS {endpoints} (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    event_types text[] NOT NULL DEFAULT '{{}}',
    enabled boolean NOT NULL DEFAULT true,
    description text NOT NULL DEFAULT '',
    secret text NOT NULL,
    previous_secret text,
    previous_secret_until timestamptz,
    after_position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {deliveries} (
    id bigserial PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES {endpoints} (id) ON DELETE CASCADE,
    position bigint NOT NULL,
    tenant_id uuid NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempt integer NOT NULL DEFAULT 0,
    http_status integer,
    error text,
    duration_ms double precision,
    next_attempt_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON {deliveries} (endpoint_id, position, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_next
    ON {deliveries} (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_tenant
    ON {deliveries} (tenant_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_log ON {deliveries} (endpoint_id, id DESC);
CREATE TABLE IF NOT EXISTS {cursor} (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
"""

#: A fresh install starts following at the store's head (history before webhooks existed
#: is not sent; ``replay`` sends it on request).
_SEED_CURSOR = """
INSERT INTO {cursor} (name, position)
SELECT 'dispatcher', coalesce(max(notification_id), 0) FROM {events}
ON CONFLICT (name) DO NOTHING
"""


def migrate_webhooks(settings: Settings) -> None:
    """Create the webhook tables and the dispatcher's cursor."""
    names = {
        "endpoints": table(settings, WEBHOOK_ENDPOINTS_TABLE),
        "deliveries": table(settings, WEBHOOK_DELIVERIES_TABLE),
        "cursor": table(settings, WEBHOOK_CURSOR_TABLE),
        "events": table(settings, EVENTS_TABLE),
    }
    with connect(settings) as conn, conn.transaction():
        conn.execute(sql.SQL(_DDL).format(**names))
        conn.execute(sql.SQL(_SEED_CURSOR).format(**names))
