"""Waking an endpoint's delivery job: at most one queued job per endpoint.

A flag key (``SET NX`` with a TTL) says "a job for this endpoint is queued". The job clears it
as it starts, before it reads the due deliveries, so a delivery created after that read always
finds the flag clear and gets a job of its own. The TTL bounds what a lost job costs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from redis import Redis
from rq import Queue

log = logging.getLogger("tenant_registry.webhooks")

FLAG_TTL_SECONDS = 30
#: A delivery job stops after this long (a slow receiver holds one job; the next job resumes).
JOB_TIMEOUT_SECONDS = 15 * 60


def flag_key(queue_name: str, endpoint_id: UUID | str) -> str:
    return f"{queue_name}:webhooks:queued:{endpoint_id}"


def wake(redis: Redis, queue: Queue, endpoint_ids: Iterable[UUID]) -> int:
    """Enqueue a delivery job for each endpoint that has none queued; return how many."""
    from webhooks.delivery import deliver_endpoint  # noqa: PLC0415 - the job imports us

    woken = 0
    for endpoint_id in endpoint_ids:
        key = flag_key(queue.name, endpoint_id)
        if not redis.set(key, b"1", nx=True, ex=FLAG_TTL_SECONDS):
            continue
        try:
            queue.enqueue(
                deliver_endpoint,
                str(endpoint_id),
                job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=60,
                failure_ttl=24 * 3600,
                description=f"webhook deliveries of endpoint {endpoint_id}",
            )
        except BaseException:
            redis.delete(key)
            raise
        woken += 1
    return woken


def clear(redis: Redis, queue_name: str, endpoint_id: UUID | str) -> None:
    """Called by the job as it starts."""
    redis.delete(flag_key(queue_name, endpoint_id))
