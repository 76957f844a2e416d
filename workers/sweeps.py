"""The three sweeps: find candidates on the read side, re-check and act on each aggregate.

The read table only *proposes* tenants (``ReadModel.due``); the aggregate decides. A stale row
(the tenant paid a minute ago and the projection has not caught up) is re-checked on the
tenant's events and skipped, so the read side can never cause a wrong transition. Every
transition is an optimistic-concurrency save, so two sweeps over the same tenants (two workers,
a retried job, a rerun after a crash) change each tenant once and skip it afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.cause import Cause, new_correlation_id
from application.registry import SweepOutcome, TenantRegistry
from domain.lifecycle import Sweep
from workers.slots import SweepName

log = logging.getLogger("tenant_registry.workers")

#: After this many failures in a row the database is presumably down: stop and let RQ retry.
MAX_CONSECUTIVE_FAILURES = 25

#: Seconds between progress lines of a long sweep.
PROGRESS_EVERY = 5.0

#: Test hook, set only by the test suite: seconds to sleep before each tenant, so that a test
#: can kill a worker in the middle of a sweep.
TEST_DELAY_ENV = "TENANT_REGISTRY_TEST_SWEEP_DELAY"


class Candidates(Protocol):
    """The read side's sweep query (``projections.queries.ReadModel.due``)."""

    def due(
        self, sweep: SweepName, now: datetime, limit: int, after: UUID | None = None
    ) -> list[UUID]: ...


@dataclass
class Counts:
    """What a sweep did: tenants proposed by the read side, and what became of them."""

    examined: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SweepAborted(Exception):
    """Too many tenants failed in a row; the sweep stopped early (RQ retries the job)."""

    def __init__(self, sweep: SweepName, counts: Counts) -> None:
        self.counts = counts
        super().__init__(f"sweep {sweep} aborted after repeated failures: {counts.as_dict()}")


def apply_one(
    registry: TenantRegistry, sweep: SweepName, tenant_id: UUID, run_id: str | None = None
) -> SweepOutcome:
    """Re-check one tenant on its aggregate and save the transition if it is due."""
    chosen = Sweep(sweep)
    return registry.sweep_one(chosen, tenant_id, actor=Cause(chosen.actor, run_id))


def check_one(
    registry: TenantRegistry, sweep: SweepName, tenant_id: UUID, run_id: str | None = None
) -> SweepOutcome:
    """What :func:`apply_one` would do, decided by the aggregate itself, saving nothing."""
    del run_id  # a dry run records nothing
    return registry.check_sweep(Sweep(sweep), tenant_id)


class _Tally:
    """Counts shared by the pool's threads, and the run of consecutive failures."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.failures_in_a_row = 0
        self._lock = threading.Lock()

    def add(self, outcome: SweepOutcome | None) -> None:
        with self._lock:
            self.counts.examined += 1
            if outcome is None:
                self.counts.failed += 1
                self.failures_in_a_row += 1
                return
            self.failures_in_a_row = 0
            if outcome == "changed":
                self.counts.changed += 1
            else:
                self.counts.skipped += 1


def _apply_page(
    registry: TenantRegistry, sweep: SweepName, page: list[UUID], tally: _Tally, run_id: str
) -> bool:
    """Sweep a page in one transaction; False if it must go one tenant at a time instead."""
    try:
        chosen = Sweep(sweep)
        outcomes = registry.sweep_batch(chosen, page, actor=Cause(chosen.actor, run_id))
    except Exception as exc:  # a tenant changed meanwhile, or the database: retry one by one
        log.info(
            "sweep page goes one tenant at a time",
            extra={"sweep": sweep, "tenants": len(page), "reason": type(exc).__name__},
        )
        return False
    for outcome in outcomes.values():
        tally.add(outcome)
    return True


def run_sweep(
    sweep: SweepName,
    registry: TenantRegistry,
    candidates: Candidates,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    threads: int = 4,
    run_id: str | None = None,
) -> Counts:
    """Sweep every tenant due at the registry clock's now; return the counts.

    Candidates come in id order, a page at a time (keyset ``after``), so tenants that change
    leave the due set without disturbing the walk and skipped ones are not proposed again.
    A tenant that fails is counted and logged by id and the sweep goes on. Every event of
    the run records ``run_id`` (the RQ job's id, or a fresh one) as its correlation id.
    """
    now = registry.clock.now()
    run = run_id or new_correlation_id()
    act: Callable[[TenantRegistry, SweepName, UUID, str], SweepOutcome] = (
        check_one if dry_run else apply_one
    )
    delay = float(os.environ.get(TEST_DELAY_ENV) or 0)
    tally = _Tally()

    def one(tenant_id: UUID) -> None:
        if delay:
            time.sleep(delay)
        try:
            outcome: SweepOutcome | None = act(registry, sweep, tenant_id, run)
        except Exception as exc:  # one bad tenant must not stop the others
            # The type only: a message could quote the tenant's data.
            log.warning(
                "sweep could not process a tenant",
                extra={"sweep": sweep, "tenant_id": str(tenant_id), "error": type(exc).__name__},
            )
            outcome = None
        tally.add(outcome)

    # Trials and grace: a page in one transaction (see TenantRegistry.sweep_batch); purges,
    # dry runs and the test delay go one tenant at a time.
    batched = Sweep(sweep) is not Sweep.PURGE and not dry_run and not delay
    after: UUID | None = None
    progress_at = time.monotonic() + PROGRESS_EVERY
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"sweep-{sweep}") as pool:
        while True:
            page = candidates.due(sweep, now, batch_size, after)
            if not (batched and page and _apply_page(registry, sweep, page, tally, run)):
                list(pool.map(one, page))
            if tally.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
                raise SweepAborted(sweep, tally.counts)
            if len(page) < batch_size:
                return tally.counts
            after = page[-1]
            if time.monotonic() >= progress_at:  # long sweeps show progress
                progress_at = time.monotonic() + PROGRESS_EVERY
                log.info("sweep progress", extra={"sweep": sweep, **tally.counts.as_dict()})
