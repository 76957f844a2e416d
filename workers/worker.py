"""The ``worker`` process: an RQ worker on the registry's queue that outlives Redis outages.

It is RQ's forking ``Worker``: each job runs in a fresh child (the work horse), which builds its
own database pools (see :mod:`workers.runtime`); the parent never opens one, so no pool is ever
shared across a fork. Retries waiting out their ``Retry`` interval are moved back to the queue
by the ``scheduler`` process (RQ's ``with_scheduler`` child process dies with a traceback on
every Redis outage, so the worker does not start it).

RQ's own loop waits out a Redis outage while it waits for jobs; an outage that hits elsewhere
(maintenance, heartbeat) ends ``work()``. This loop then waits for Redis with a backoff and
starts a new worker, so the process never exits on an outage, only on a stop request.
"""

from __future__ import annotations

import logging
import signal
import threading

from rq import Queue, Worker

from common.settings import Settings
from workers.connections import REDIS_DOWN, Backoff, make_redis

log = logging.getLogger("tenant_registry.workers")


def run_worker(
    settings: Settings, *, burst: bool = False, stop: threading.Event | None = None
) -> None:
    """Work the queue until stopped (SIGTERM/SIGINT), or until it is empty with ``burst``."""
    stop = stop or threading.Event()
    backoff = Backoff("worker")
    while not stop.is_set():
        _stop_on_signals(stop)  # RQ's handlers belong to the worker that just ended
        connection = make_redis(settings.redis_url)
        try:
            connection.ping()
            backoff.succeeded()
            queue = Queue(settings.queue_name, connection=connection)
            worker = Worker([queue], connection=connection)
            worker.work(burst=burst, logging_level="INFO")
            if burst or getattr(worker, "_shutdown_requested_date", None) is not None:
                return
            log.warning("worker: RQ's loop ended unexpectedly; starting a new one")
            stop.wait(1.0)
        except REDIS_DOWN as exc:
            _stop_on_signals(stop)
            stop.wait(backoff.failed(exc))
        finally:
            connection.close()


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
