"""``tenant-registry webhooks dispatch``: turn new events into delivery rows and wake jobs.

Why its own process: it must hold a LISTEN connection and wake on every commit (commit to
receiver p99 ≤ 1 s), which neither a forking RQ job nor a cron tick can do; it is small and
stateless (its position lives in PostgreSQL), so ``up`` and Compose run it like the projector.
Several may run: each page is one transaction holding the cursor row's lock, so a second
dispatcher waits, then reads the moved cursor, and no delivery is created twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import psycopg
import redis
from eventsourcing.persistence import PersistenceError
from psycopg import sql
from rq import Queue

from application.events import RecordedEvent
from application.registry import TenantRegistry
from common.clock import Clock, SystemClock
from common.db import connect
from common.settings import Settings
from common.tables import EVENTS_CHANNEL
from webhooks import metrics
from webhooks.policy import matches
from webhooks.store import Conn, Endpoint, NewDelivery, WebhookStore
from webhooks.wake import wake
from workers.connections import make_redis

log = logging.getLogger("tenant_registry.webhooks")

PAGE = 500
#: Retries and orphaned deliveries (a killed worker's) are looked for this often; a
#: delivery that is due for longer than ``ORPHAN_GRACE`` gets a job woken for it.
RESCAN_SECONDS = 1.0
ORPHAN_GRACE = timedelta(seconds=1)


class Dispatcher:
    """One pass of the dispatcher's work; :func:`run_dispatcher` loops it."""

    def __init__(self, settings: Settings, registry: TenantRegistry, clock: Clock) -> None:
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.store = WebhookStore(settings)

    def dispatch_page(self, conn: Conn) -> tuple[int, set[UUID]]:
        """Create the deliveries of the next page of events; (events read, endpoints touched)."""
        with conn.transaction():
            after = self.store.lock_cursor(conn, self.registry.head())
            endpoints = self.store.list_endpoints(conn, enabled_only=True)
            after = max(after, self._first_wanted(endpoints))
            events = self.registry.feed(after=after, limit=PAGE)
            if not events:
                self.store.move_cursor(conn, after)
                return 0, set()
            new = deliveries_for(events, endpoints)
            for event in events:
                if event.type == "TenantPurged":
                    self.store.drop_pending_of_tenant(conn, event.tenant_id, event.position)
            self.store.add_deliveries(conn, new, self.clock.now())
            self.store.move_cursor(conn, events[-1].position)
        return len(events), {d.endpoint_id for d in new}

    def _first_wanted(self, endpoints: Sequence[Endpoint]) -> int:
        """The position before which no enabled endpoint wants anything: a cursor left far
        behind (no dispatcher ran while the store grew) jumps there instead of reading the
        whole history. Pending deliveries of a tenant purged in the skipped part cannot
        exist (they would be for events before every endpoint's start), and a delivery whose
        event is gone is dropped by the worker anyway."""
        if not endpoints:
            return self.registry.head()
        return min(endpoint.after_position for endpoint in endpoints)

    def endpoints_due(self, conn: Conn) -> list[UUID]:
        """Endpoints with retries due or deliveries left behind by a killed job."""
        oldest = self.store.oldest_pending(conn)
        now = self.clock.now()
        metrics.OLDEST_PENDING_SECONDS.set(0 if oldest is None else (now - oldest).total_seconds())
        return self.store.endpoints_due(conn, now - ORPHAN_GRACE)


def deliveries_for(
    events: Sequence[RecordedEvent], endpoints: Sequence[Endpoint]
) -> list[NewDelivery]:
    """One delivery per event and endpoint that wants it (and existed before the event)."""
    return [
        NewDelivery(endpoint.id, event.position, event.tenant_id, event.type)
        for event in events
        for endpoint in endpoints
        if event.position > endpoint.after_position and matches(endpoint.event_types, event.type)
    ]


def small_pool(settings: Settings) -> Settings:
    """Settings for a registry used by one thread: one pooled connection, not five."""
    return settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})


def run_dispatcher(settings: Settings, stop: threading.Event) -> None:
    """Dispatch until ``stop`` is set, riding out database and Redis outages."""
    while not stop.is_set():
        try:
            _run(settings, stop)
        except (psycopg.Error, PersistenceError, redis.RedisError, OSError) as exc:
            log.warning("webhook dispatcher: %s; retrying in 2 s", type(exc).__name__)
            stop.wait(2.0)


def _run(settings: Settings, stop: threading.Event) -> None:
    registry = TenantRegistry(small_pool(settings))
    client = make_redis(settings.redis_url)
    try:
        queue = Queue(settings.queue_name, connection=client)
        dispatcher = Dispatcher(settings, registry, SystemClock())
        with connect(settings) as conn, connect(settings) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            log.info("webhook dispatcher following the event feed")
            rescan_at = 0.0
            while not stop.is_set():
                touched: set[UUID] = set()
                while True:
                    read, endpoints = dispatcher.dispatch_page(conn)
                    touched |= endpoints
                    if read < PAGE:
                        break
                wake(client, queue, touched)
                now = time.monotonic()
                if now >= rescan_at:
                    wake(client, queue, dispatcher.endpoints_due(conn))
                    rescan_at = now + RESCAN_SECONDS
                # Wakes on the next commit's NOTIFY, or for the next rescan.
                for _ in listener.notifies(timeout=RESCAN_SECONDS, stop_after=1):
                    pass
    finally:
        client.close()
        registry.close()
