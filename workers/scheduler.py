"""The ``scheduler`` process: RQ's cron scheduler, in business time, surviving Redis outages.

RQ 3's ``CronScheduler`` reads cron fields in the process's local time, so this process sets
``TZ`` to the business zone before registering anything. It fires :func:`workers.jobs.dispatch`
for each sweep; the dispatcher names the slot and enqueues the sweep under a deterministic id,
which is what keeps two schedulers (RQ takes no lock) from running a slot twice.

Missed slots: on start (and so after a crash or a deploy) the scheduler dispatches each sweep
once for the latest slot; if that slot already ran the dispatch is a duplicate and does
nothing. While Redis is down the cron entry stays due and fires when Redis returns, for the
latest slot. Sweeps take everything due at run time, so one run makes up for any number of
missed ones.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from redis import Redis
from rq import Queue
from rq.cron import CronScheduler
from rq.scheduler import RQScheduler

from common.settings import Settings
from workers.connections import REDIS_DOWN, Backoff
from workers.jobs import dispatch
from workers.slots import SWEEPS, SweepName, cron_for

log = logging.getLogger("tenant_registry.workers")

DISPATCH_RESULT_TTL = 24 * 3600
DISPATCH_TIMEOUT = 60
RETRY_PROMOTION_INTERVAL = 1.0


def use_business_time(zone: str) -> None:
    """Make this process's local time the business zone (RQ's cron fields follow it)."""
    os.environ["TZ"] = zone
    time.tzset()


def build_cron(settings: Settings, connection: Redis) -> CronScheduler:
    """A cron scheduler that fires the dispatcher of each sweep on its schedule."""
    use_business_time(settings.timezone)
    cron = CronScheduler(connection=connection, logging_level=logging.INFO)
    for sweep in SWEEPS:
        cron.register(
            dispatch,
            settings.queue_name,
            kwargs=_dispatch_kwargs(settings, sweep),
            cron=cron_for(settings, sweep),
            job_timeout=DISPATCH_TIMEOUT,
            result_ttl=DISPATCH_RESULT_TTL,
            name=f"tenant-registry-{sweep}",
        )
    return cron


def dispatch_latest_slots(settings: Settings, connection: Redis) -> None:
    """Dispatch every sweep for its latest slot now (a no-op for slots that already ran)."""
    queue = Queue(settings.queue_name, connection=connection)
    for sweep in SWEEPS:
        queue.enqueue(
            dispatch,
            kwargs=_dispatch_kwargs(settings, sweep),
            job_timeout=DISPATCH_TIMEOUT,
            result_ttl=DISPATCH_RESULT_TTL,
            description=f"dispatch {sweep} (scheduler start: latest slot)",
        )


def _dispatch_kwargs(settings: Settings, sweep: SweepName) -> dict[str, str]:
    """The dispatcher names the slot with the schedule it was fired on, not the worker's."""
    return {"sweep": sweep, "cron": cron_for(settings, sweep), "timezone": settings.timezone}


def run_scheduler(settings: Settings, connection: Redis, stop: threading.Event) -> None:
    """Fire the sweeps' dispatchers on schedule until ``stop`` is set; ride out Redis outages.

    The same loop promotes RQ's scheduled jobs (retries waiting out their interval) to the
    queue, under RQ's per-queue scheduler lock, once a second. Workers run without RQ's
    forked scheduler process, which dies with a traceback whenever Redis goes away.
    """
    cron = build_cron(settings, connection)
    retries: Any = RQScheduler([settings.queue_name], connection=connection)  # partly untyped
    backoff = Backoff("scheduler")
    started = False
    while not stop.is_set():
        try:
            if not started:
                cron.register_birth()
                dispatch_latest_slots(settings, connection)
                started = True
                log.info("scheduler started", extra={"timezone": settings.timezone})
            if cron.enqueue_jobs():
                cron.save()
            cron.heartbeat()
            _promote_due_retries(retries)
            backoff.succeeded()
            stop.wait(min(cron.calculate_sleep_interval(), RETRY_PROMOTION_INTERVAL))
        except REDIS_DOWN as exc:
            stop.wait(backoff.failed(exc))
    try:
        cron.register_death()
        retries.release_locks()
    except REDIS_DOWN:
        log.info("scheduler stopped without deregistering (Redis unreachable)")


def _promote_due_retries(retries: Any) -> None:
    """Move jobs whose retry time has come back to the queue (if this process holds the lock)."""
    if retries.should_reacquire_locks:
        retries.acquire_locks()
    if retries.acquired_locks:
        retries.heartbeat()
        retries.enqueue_scheduled_jobs()
