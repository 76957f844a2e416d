"""Fast seeding of the event store with realistic tenant histories (tests and benchmarks).

Going through ``TenantRegistry`` costs about a millisecond per command; projection tests and
benchmarks need tens or hundreds of thousands of events. Here the domain decides (so every
history is one the aggregate would accept), the application's mapper encodes, and a ``COPY``
(under the store's table lock, like every writer) inserts thousands of events per
transaction. Slug index events are left out: the read side ignores them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from application.registry import TenantRegistry
from common.tables import EVENTS_CHANNEL, EVENTS_TABLE
from domain.errors import DomainError
from domain.tenant import Tenant

START = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
_PLANS = ("standard", "pro", "enterprise", "free_tier")
_ZONES = ("Asia/Jerusalem", "Europe/London", "America/New_York", "UTC")


def _command(tenant: Tenant, rng: random.Random, now: datetime) -> None:
    """One random command on ``tenant`` (refusals and no-ops simply record nothing)."""
    actor = "seed"
    choice = rng.randrange(9)
    try:
        if choice == 0:
            tenant.activate(now=now, actor=actor)
        elif choice == 1:
            tenant.start_grace(now=now, actor=actor, grace_days=7)
        elif choice == 2:
            tenant.pause(now=now, actor=actor, reason="seed")
        elif choice == 3:
            tenant.cancel(now=now, actor=actor)
        elif choice == 4:
            tenant.reactivate(now=now, actor=actor)
        elif choice == 5:
            tenant.delete(now=now, actor=actor, retention_days=90)
        elif choice == 6:
            tenant.restore(now=now, actor=actor)
        else:
            tenant.update_profile(
                now=now,
                actor=actor,
                name=f"Renamed {rng.randrange(10**6)}",
                plan=rng.choice(_PLANS),
                metadata={"n": rng.randrange(100), "tier": rng.choice(_PLANS)},
            )
    except DomainError:
        pass


def seed_events(
    app: TenantRegistry,
    events: int,
    *,
    seed: int = 1,
    new_tenant_share: float = 0.25,
    chunk: int = 5_000,
) -> list[UUID]:
    """Append about ``events`` tenant events (interleaved tenants); return the tenant ids."""
    rng = random.Random(seed)
    tenants: list[Tenant] = []
    pending: list[StoredEvent] = []
    now = START
    written = 0
    while written + len(pending) < events:
        now += timedelta(milliseconds=rng.randrange(1, 50))
        if not tenants or rng.random() < new_tenant_share:
            n = len(tenants)
            tenant = Tenant.register(
                slug=f"seed-{seed}-{n}",
                name=f"Seeded {n} Ltd",
                timezone=rng.choice(_ZONES),
                plan=rng.choice(_PLANS),
                contact_email=f"ops{n}@example.com" if n % 3 else None,
                metadata={"seed": n},
                trial_days=14,
                now=now,
                actor="seed",
            )
            tenants.append(tenant)
        else:
            tenant = rng.choice(tenants)
            _command(tenant, rng, now)
        pending.extend(app.mapper.to_stored_event(e) for e in tenant.collect_events())
        if len(pending) >= chunk:
            _insert(app, pending)
            written += len(pending)
            pending = []
    if pending:
        _insert(app, pending)
    return [t.id for t in tenants]


def _insert(app: TenantRegistry, stored: list[StoredEvent]) -> None:
    """COPY the events in, under the store's table lock like every writer (ids in order)."""
    settings = app.settings
    events = sql.Identifier(settings.db_schema, EVENTS_TABLE)
    with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
        copy_sql = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(events)
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["uuid", "bigint", "text", "bytea"])
            for e in stored:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(EVENTS_CHANNEL)))
