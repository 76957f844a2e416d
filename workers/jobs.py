"""RQ jobs: the three sweeps, and the dispatcher the cron scheduler fires for each slot.

Jobs are plain functions with plain arguments (a sweep name, an ISO instant), never tenant
data, and they return counts: nothing about a tenant beyond its id ever reaches Redis.
Settings come from the worker's environment.

Tests pass ``now`` to move a sweep in time; in production it is left out and the sweep uses
the system clock at run time (which ``faketime`` shifts like any process clock). A sweep always
takes everything due at its ``now``, so one run catches up any slots that were missed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError

from common.clock import Clock, FrozenClock, SystemClock
from common.metrics import SCHEDULER_DISPATCHES, SWEEP_SECONDS, SWEEP_TENANTS
from common.settings import Settings, get_settings
from workers.connections import make_redis
from workers.runtime import refresh_read_side, runtime_for
from workers.slots import SWEEPS, SweepName, cron_for, slot_of, sweep_job_id
from workers.sweeps import Counts, run_sweep

log = logging.getLogger("tenant_registry.workers")

#: A sweep job (and so its id) is kept this long after it ends: the window in which a second
#: dispatch of the same slot is recognised as a duplicate.
SWEEP_RESULT_TTL = 7 * 24 * 3600
SWEEP_TIMEOUT = 30 * 60
#: Transient failures (database restart, lock timeout) retry after 30 s, 2 min, 10 min; then
#: the job stays in RQ's FailedJobRegistry and the next slot's run catches up.
SWEEP_RETRY_INTERVALS = [30, 120, 600]


def expire_trials(now: str | None = None) -> dict[str, int]:
    """Move every tenant whose trial has ended to ``grace``; return the counts."""
    return _sweep_job("trials", now)


def expire_grace(now: str | None = None) -> dict[str, int]:
    """Pause every tenant whose grace period has ended; return the counts."""
    return _sweep_job("grace", now)


def purge_deleted(now: str | None = None) -> dict[str, int]:
    """Erase every soft-deleted tenant whose retention has passed; return the counts."""
    return _sweep_job("purge", now)


SWEEP_JOBS = {"trials": expire_trials, "grace": expire_grace, "purge": purge_deleted}


def run_named_sweep(
    settings: Settings,
    sweep: SweepName,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
    run_id: str | None = None,
) -> Counts:
    """One sweep, in this process: catch the read table up, sweep, catch up again, log counts.

    The second catch-up makes the read table show the sweep's work without waiting for a
    projector, which for a purge is what removes the tenant's row (and so its PII) from it.
    """
    started = time.monotonic()
    try:
        refresh_read_side(settings)
        with runtime_for(settings, clock) as runtime:
            counts = run_sweep(
                sweep,
                runtime.registry,
                runtime.read_model,
                dry_run=dry_run,
                batch_size=settings.sweep_batch_size,
                threads=settings.sweep_threads,
                run_id=run_id,
            )
        if counts.changed and not dry_run:
            refresh_read_side(settings)
    except Exception:
        SWEEP_SECONDS.labels(sweep, "error").observe(time.monotonic() - started)
        raise
    SWEEP_SECONDS.labels(sweep, "ok").observe(time.monotonic() - started)
    if not dry_run:
        for outcome, number in counts.as_dict().items():
            SWEEP_TENANTS.labels(sweep, outcome).inc(number)
    log.info(
        "sweep finished",
        extra={
            "sweep": sweep,
            "dry_run": dry_run,
            "seconds": round(time.monotonic() - started, 3),
            **counts.as_dict(),
        },
    )
    return counts


def _sweep_job(sweep: SweepName, now: str | None) -> dict[str, int]:
    clock = FrozenClock(parse_instant(now)) if now is not None else None
    job = get_current_job()  # its id is the run's correlation id
    run_id = job.id if job is not None else None
    return run_named_sweep(get_settings(), sweep, clock=clock, run_id=run_id).as_dict()


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (a naive one is refused: whose wall clock?)."""
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        msg = f"instant {text!r} has no UTC offset"
        raise ValueError(msg)
    return instant


def dispatch(sweep: str, cron: str | None = None, timezone: str | None = None) -> dict[str, Any]:
    """Cron target: enqueue the sweep for the slot this firing belongs to, once per slot.

    RQ's cron scheduler has no lock, so two schedulers fire every slot twice. Both firings
    name the same slot (computed from when the scheduler created the job, with the schedule
    the scheduler fired it on: ``cron`` in ``timezone``) and so the same job id; the second
    enqueue is refused as a duplicate.
    """
    if sweep not in SWEEPS:
        msg = f"unknown sweep {sweep!r}"
        raise ValueError(msg)
    name: SweepName = sweep
    settings = get_settings()
    job = get_current_job()
    fired_at = job.created_at if job is not None else SystemClock().now()
    expression = cron or cron_for(settings, name)
    slot = slot_of(expression, timezone or settings.timezone, fired_at)
    connection = job.connection if job is not None else make_redis(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection)
    enqueued = enqueue_sweep(queue, name, slot)
    SCHEDULER_DISPATCHES.labels(name, "enqueued" if enqueued else "duplicate").inc()
    log.info(
        "sweep dispatched" if enqueued else "sweep already dispatched for this slot",
        extra={"sweep": name, "slot": slot.isoformat()},
    )
    return {"sweep": name, "slot": slot.isoformat(), "enqueued": enqueued}


def enqueue_sweep(queue: Queue, sweep: SweepName, slot: datetime) -> bool:
    """Enqueue one slot's sweep under its deterministic id; False if it already was."""
    try:
        queue.enqueue(
            SWEEP_JOBS[sweep],
            job_id=sweep_job_id(sweep, slot),
            unique=True,
            retry=Retry(max=3, interval=SWEEP_RETRY_INTERVALS),
            job_timeout=SWEEP_TIMEOUT,
            result_ttl=SWEEP_RESULT_TTL,
            description=f"sweep {sweep} for slot {slot.isoformat()}",
        )
    except DuplicateJobError:
        return False
    return True
