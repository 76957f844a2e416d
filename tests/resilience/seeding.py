"""Tenants that are due for a sweep now, and a look at the sweep jobs RQ ran.

Sweeps act on the system clock in the worker processes, so the tenants they must find are
registered in the past: through the real application, on a frozen clock set back in time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import redis
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings


@dataclass(frozen=True)
class DueTenants:
    """Ids of tenants whose trial, grace period or retention has ended."""

    trials: list[UUID]
    grace: list[UUID]
    purge: list[UUID]

    @property
    def all(self) -> list[UUID]:
        return [*self.trials, *self.grace, *self.purge]


def seed_due(
    settings: Settings, *, trials: int = 0, grace: int = 0, purge: int = 0, name: str = "Due"
) -> DueTenants:
    """Register tenants in the past so that each sweep has work now (default lengths)."""
    now = datetime.now(UTC)

    def make(count: int, days_ago: int, commands: tuple[str, ...]) -> list[UUID]:
        registry = TenantRegistry(settings, FrozenClock(now - timedelta(days=days_ago)))
        try:
            ids = []
            for _ in range(count):
                slug = f"due-{secrets.token_hex(5)}"
                tenant = registry.register(slug=slug, name=f"{name} {slug}", actor="seed").tenant
                for command in commands:
                    registry.run(command, tenant.id, actor="seed")
                ids.append(tenant.id)
            return ids
        finally:
            registry.close()

    return DueTenants(
        trials=make(trials, 30, ()),
        grace=make(grace, 40, ("activate", "start-grace")),
        purge=make(purge, 100, ("cancel", "delete")),
    )


@dataclass(frozen=True)
class SweepJobs:
    """The sweep jobs in RQ's registries: id -> how many times each finished job ran."""

    finished: dict[str, int]
    failed: list[str]
    started: list[str]
    queued: int


def sweep_jobs(redis_url: str, queue_name: str) -> SweepJobs | None:
    """What RQ holds about the sweeps (None while Redis is unreachable)."""
    try:
        with Redis.from_url(redis_url, socket_connect_timeout=1) as client:
            queue = Queue(queue_name, connection=client)
            finished = [
                i for i in FinishedJobRegistry(queue=queue).get_job_ids() if i.startswith("sweep-")
            ]
            runs = {i: len(Job.fetch(i, connection=client).results()) for i in finished}
            return SweepJobs(
                finished=runs,
                failed=FailedJobRegistry(queue=queue).get_job_ids(),
                started=StartedJobRegistry(queue=queue).get_job_ids(),
                queued=queue.count,
            )
    except redis.RedisError:
        return None


def finished_count(redis_url: str, queue_name: str, sweep: str) -> Callable[[], int]:
    """A poll: how many jobs of one sweep have finished so far (0 while Redis is down)."""

    def count() -> int:
        jobs = sweep_jobs(redis_url, queue_name)
        if jobs is None:
            return 0
        return sum(1 for i in jobs.finished if i.startswith(f"sweep-{sweep}-"))

    return count
