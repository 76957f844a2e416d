"""The RQ job that delivers an endpoint's due webhooks, and the per-delivery steps.

``deliver_endpoint(endpoint_id)`` carries an id, nothing else: the body of each delivery is
built from the event store when it is sent and exists only in this process's memory. A
per-endpoint PostgreSQL advisory lock lets one job at a time work an endpoint, so deliveries
go out in position order and two workers never send one twice. A worker killed mid-delivery
leaves the row ``pending`` and due; the dispatcher wakes a new job for it, which sends it
again with the same ``webhook-id`` (derived from endpoint and position).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors
from rq import get_current_job

from api.representations import dumps, event_document
from application.events import RecordedEvent
from application.registry import TenantRegistry
from common.clock import Clock, SystemClock
from common.db import connect
from common.settings import Settings, get_settings
from webhooks import http, metrics
from webhooks.dispatcher import small_pool
from webhooks.policy import next_attempt
from webhooks.signing import message_id, signature_header
from webhooks.store import Conn, Endpoint, WebhookStore
from webhooks.wake import clear
from workers.connections import make_redis

log = logging.getLogger("tenant_registry.webhooks")

#: How long a job waits for another job of the same endpoint to finish before leaving the
#: work to it (the dispatcher wakes a new job if deliveries are still due afterwards).
LOCK_WAIT = "2s"
PAGE = 100
#: A job that ran out of due deliveries watches for new ones this long before it ends: at a
#: steady trickle of events, starting a job (a fork, a pool) would cost more than sending.
LINGER_SECONDS = 2.0
LINGER_POLL_SECONDS = 0.02


def deliver_endpoint(endpoint_id: str) -> dict[str, int]:
    """Deliver every due webhook of one endpoint, in position order; return the counts."""
    settings = get_settings()
    job = get_current_job()
    redis = job.connection if job is not None else make_redis(settings.redis_url)
    clear(redis, settings.queue_name, endpoint_id)
    target = UUID(endpoint_id)
    with connect(settings) as conn:
        if not _lock_endpoint(conn, target):
            return {"busy": 1}
        registry = TenantRegistry(small_pool(settings))
        try:
            deliverer = Deliverer(settings, registry, conn, SystemClock())
            return dict(deliverer.run(target))
        finally:
            registry.close()


def _lock_endpoint(conn: Conn, endpoint_id: UUID) -> bool:
    """The endpoint's session advisory lock (released when this connection ends, a kill too)."""
    key = int.from_bytes(endpoint_id.bytes[:8], "big", signed=True)
    try:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_WAIT,))
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    except errors.LockNotAvailable:
        return False
    return True


class Deliverer:
    """Sends one endpoint's due deliveries and records each outcome."""

    def __init__(
        self, settings: Settings, registry: TenantRegistry, conn: Conn, clock: Clock
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.conn = conn
        self.clock = clock
        self.store = WebhookStore(settings)
        self.sender = http.Sender(
            allow_private=settings.webhooks_allow_private,
            connect_timeout=settings.webhooks_connect_timeout,
            total_timeout=settings.webhooks_timeout,
        )

    def run(self, endpoint_id: UUID) -> Counter[str]:
        counts: Counter[str] = Counter()
        idle_until = time.monotonic() + LINGER_SECONDS
        try:
            while True:
                rows = self.store.due(self.conn, endpoint_id, self.clock.now(), PAGE)
                if not rows:
                    if time.monotonic() >= idle_until:
                        return counts
                    time.sleep(LINGER_POLL_SECONDS)
                    continue
                endpoint = self.store.get_endpoint(self.conn, endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    return counts
                events = self._events([int(row["position"]) for row in rows])
                for row in rows:
                    outcome = self.deliver(endpoint, row, events.get(int(row["position"])))
                    metrics.DELIVERIES.labels(outcome).inc()
                    counts[outcome] += 1
                idle_until = time.monotonic() + LINGER_SECONDS
        finally:
            self.sender.close()

    def _events(self, positions: list[int]) -> dict[int, RecordedEvent]:
        """The events at these positions (absent: purged), in one read when they are close."""
        first, last = min(positions), max(positions)
        if last - first < 4 * PAGE:
            found = self.registry.feed(after=first - 1, limit=last - first + 1)
        else:
            found = [e for p in positions for e in self.registry.feed(after=p - 1, limit=1)]
        wanted = set(positions)
        return {e.position: e for e in found if e.position in wanted}

    def deliver(self, endpoint: Endpoint, row: dict[str, Any], event: RecordedEvent | None) -> str:
        """One attempt at one delivery: ``delivered``, ``retry``, ``failed`` or ``dropped``."""
        position = int(row["position"])
        if event is None:
            # The event is gone: its tenant was purged. Its TenantPurged is delivered instead.
            self.store.drop_delivery(self.conn, row["id"])
            return "dropped"
        body = dumps(
            {
                "type": event.type,
                "timestamp": event.occurred_at.astimezone(UTC),
                "data": event_document(event),
            }
        )
        msg_id = message_id(endpoint.id, position)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                endpoint.signing_secrets(self.clock.now()), msg_id, timestamp, body
            ),
        }
        attempt = self.sender.post(endpoint.url, body, headers)
        metrics.ATTEMPT_SECONDS.observe(attempt.seconds)
        return self._record(row, attempt)

    def _record(self, row: dict[str, Any], attempt: http.Attempt) -> str:
        made = int(row["attempt"]) + 1
        now = self.clock.now()
        if attempt.delivered:
            status, outcome, retry_at = "delivered", "delivered", None
        else:
            retry_at = next_attempt(made, self.settings.webhooks_retry_delays, now)
            status, outcome = ("pending", "retry") if retry_at else ("failed", "failed")
        try:
            self.store.record_attempt(
                self.conn,
                row["id"],
                status=status,
                attempt=made,
                http_status=attempt.status_code,
                error=attempt.error,
                duration_ms=round(attempt.seconds * 1000, 3),
                next_attempt_at=retry_at,
                now=now,
            )
        except psycopg.Error:
            log.warning("could not record a webhook attempt", extra={"delivery": row["id"]})
            raise
        return outcome
