"""Fast seeding through the application's event store: many aggregates per transaction.

The domain decides every history (so each is one the aggregate would accept), the registry's
mapper encodes and its recorder saves (table lock, tombstone check, one commit per batch), so
the store holds exactly what commands would have written, slug claims included. Building the
next batch in Python overlaps with the database inserting the previous one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from queue import Queue
from typing import Any

from application.registry import TenantRegistry
from bench.context import Context, Row
from bench.services import head
from common.settings import Settings
from domain.slug_index import SlugIndex
from domain.tenant import Tenant

_PLANS = ("standard", "standard", "pro", "enterprise", "free_tier")
_ZONES = ("Asia/Jerusalem", "Asia/Jerusalem", "Europe/London", "America/New_York", "UTC")
ACTOR = "bench:seed"

#: End state -> weight. Timestamps stay within ``SPREAD`` before now, so nothing is due.
MIX: dict[str, float] = {
    "trial": 0.20,
    "active": 0.45,
    "grace": 0.05,
    "paused": 0.08,
    "cancelled": 0.12,
    "deleted": 0.10,
}
SPREAD = timedelta(days=5)


def _walk(tenant: Tenant, state: str, rng: random.Random, t: datetime, step: timedelta) -> None:
    """Move a fresh tenant to ``state`` through its own commands (1-6 events in all)."""

    def at() -> datetime:
        nonlocal t
        t += step
        return t

    if rng.random() < 0.25 and state != "deleted":
        tenant.update_profile(now=at(), actor=ACTOR, plan=rng.choice(_PLANS[2:]))
    if state == "trial":
        return
    if state == "paused" and rng.random() < 0.5:
        tenant.pause(now=at(), actor=ACTOR, reason="seed")
        return
    tenant.activate(now=at(), actor=ACTOR)
    if state in ("active", "grace") and rng.random() < 0.3:
        tenant.start_grace(now=at(), actor=ACTOR, grace_days=7)
        tenant.activate(now=at(), actor=ACTOR)
    if state == "grace":
        tenant.start_grace(now=at(), actor=ACTOR, grace_days=7)
    elif state == "paused":
        tenant.pause(now=at(), actor=ACTOR, reason="seed")
    elif state in ("cancelled", "deleted"):
        tenant.cancel(now=at(), actor=ACTOR)
        if state == "deleted":
            tenant.delete(now=at(), actor=ACTOR, retention_days=90)


def build_tenant(
    n: int,
    rng: random.Random,
    now: datetime,
    *,
    prefix: str,
    states: Sequence[str],
    weights: Sequence[float],
) -> Tenant:
    """Tenant number ``n`` with a random lifecycle history ending before ``now``."""
    created = now - SPREAD * rng.random()
    state = rng.choices(states, weights)[0]
    tenant = Tenant.register(
        slug=f"{prefix}-{n}",
        name=f"Tenant {n} {rng.choice(('Ltd', 'Inc', 'GmbH', 'Bakery', 'Labs'))}",
        timezone=rng.choice(_ZONES),
        plan=rng.choice(_PLANS),
        contact_email=f"ops{n}@example.com" if n % 3 else None,
        metadata={"seed": n, "region": rng.choice(("il", "eu", "us"))} if n % 2 else {},
        trial_days=14,
        now=created,
        actor=ACTOR,
    )
    _walk(tenant, state, rng, created, (now - created) / 8)
    return tenant


def _batches(
    count: int, batch: int, make: Callable[[int], Tenant]
) -> Iterator[tuple[list[Tenant | SlugIndex], list[Tenant]]]:
    for start in range(0, count, batch):
        tenants = [make(n) for n in range(start, min(count, start + batch))]
        claims: list[Tenant | SlugIndex] = [
            SlugIndex.claim(slug=t.slug, tenant_id=t.id, now=t.created_on) for t in tenants
        ]
        yield [*tenants, *claims], tenants


def save_overlapped(
    app: TenantRegistry,
    batches: Iterator[tuple[list[Tenant | SlugIndex], list[Tenant]]],
    on_saved: Callable[[list[Tenant]], None],
) -> None:
    """Save each batch on a writer thread while the next one is being built."""
    queue: Queue[tuple[list[Tenant | SlugIndex], list[Tenant]] | None] = Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        while (item := queue.get()) is not None:
            try:
                if not failure:
                    app.save_batch(item[0])
                    on_saved(item[1])
            except BaseException as exc:  # reported by the producer below
                failure.append(exc)

    thread = threading.Thread(target=writer, name="seed-writer")
    thread.start()
    try:
        for item in batches:
            if failure:
                break
            queue.put(item)
    finally:
        queue.put(None)
        thread.join()
    if failure:
        raise failure[0]


def seed_tenants(
    app: TenantRegistry,
    count: int,
    *,
    now: datetime,
    prefix: str,
    batch: int = 4_000,
    seed: int = 7,
    mix: dict[str, float] | None = None,
    on_saved: Callable[[list[Tenant]], None] = lambda _: None,
) -> None:
    """Save ``count`` tenants with realistic histories (and their slug claims)."""
    rng = random.Random(seed)
    chosen = mix or MIX
    states, weights = list(chosen), list(chosen.values())

    def make(n: int) -> Tenant:
        return build_tenant(n, rng, now, prefix=prefix, states=states, weights=weights)

    save_overlapped(app, _batches(count, batch, make), on_saved)


#: Seeding processes: Python builds and encodes while PostgreSQL inserts; on 2 cores two
#: builders keep the server busy (saves still serialise on the event table's lock).
SEED_PROCESSES = 2

_progress: Any = None  # a shared counter, set in each seeding process


def _init_worker(counter: Any) -> None:
    global _progress  # noqa: PLW0603 - one counter per process, set once
    _progress = counter


def _seed_part(settings: Settings, count: int, part: int, now: datetime) -> list[str]:
    """One process's share of the seed; returns a sample of its tenant ids."""
    sample: list[str] = []

    def on_saved(tenants: list[Tenant]) -> None:
        sample.extend(str(t.id) for t in tenants[::10])
        with _progress.get_lock():
            _progress.value += len(tenants)

    app = TenantRegistry(settings)
    try:
        seed_tenants(app, count, now=now, prefix=f"t{part}", seed=7 + part, on_saved=on_saved)
    finally:
        app.close()
    return sample[:50_000]


def run_seed(ctx: Context) -> None:
    """Seed the store with ``1,000,000`` tenants (``--quick``: 5,000; ``--tenants N`` or else
    ``BENCH_SEED_TENANTS`` overrides both); keep a sample of ids."""
    count = ctx.tenants or int(os.environ.get("BENCH_SEED_TENANTS") or ctx.size(1_000_000, 5_000))
    t0 = time.monotonic()
    mp = multiprocessing.get_context("spawn")
    counter = mp.Value("q", 0)
    shares = [count // SEED_PROCESSES + (1 if i < count % SEED_PROCESSES else 0)
              for i in range(SEED_PROCESSES)]  # fmt: skip
    now = datetime.now(UTC)
    with ProcessPoolExecutor(
        SEED_PROCESSES, mp_context=mp, initializer=_init_worker, initargs=(counter,)
    ) as pool:
        futures = [
            pool.submit(_seed_part, ctx.settings, share, part, now)
            for part, share in enumerate(shares)
        ]
        while not all(f.done() for f in futures):
            wait(futures, timeout=15)
            done = int(counter.value)
            rate = done / (time.monotonic() - t0)
            ctx.say(f"  seeded {done:,} / {count:,} tenants ({rate:,.0f}/s)")
        sample = [tenant_id for f in futures for tenant_id in f.result()]
    seconds = time.monotonic() - t0
    ids_file = ctx.workdir / "tenant_ids.txt"
    ids_file.write_text("\n".join(sample) + "\n")
    ctx.seeded_ids_file = ids_file
    ctx.seeded_tenants = count
    events = head(ctx.settings)
    ctx.add(
        Row(
            f"seed: {count:,} tenants through the event store (save_batch, "
            f"{SEED_PROCESSES} processes)",
            count / seconds,
            "tenants/s",
            note=f"{events:,} stored events (slug claims included) in {seconds:.0f}s",
            extra={"tenants": count, "events": events, "seconds": seconds},
        )
    )
