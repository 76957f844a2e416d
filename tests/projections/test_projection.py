"""The batch projection equals a replay of the aggregates, and stops loudly on a bad event."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from common.tables import EVENTS_TABLE
from common.transcoder import OrjsonTranscoder
from domain.errors import DomainError, TenantGone
from domain.lifecycle import Command
from domain.tenant import COMMANDS, Tenant
from projections.fold import ProjectionError
from projections.queries import ReadModel
from projections.runner import catch_up
from tests.projections.conftest import expected_row, tracked_position

_PLANS = ("standard", "pro", "team_2")
_ZONES = ("Asia/Jerusalem", "Europe/Paris", "America/Los_Angeles")


def _random_step(
    rng: random.Random,
    registry: TenantRegistry,
    clock: FrozenClock,
    ids: list[UUID],
    deleted: set[UUID],
) -> None:
    """One random command, sweep or clock move (refusals are part of the game)."""
    roll = rng.random()
    if not ids or roll < 0.12:
        result = registry.register(
            slug=f"t-{len(ids)}-{rng.randrange(10**6)}",
            name=f"Tenant {len(ids)} {rng.choice(['Ltd', '100%', 'a_b'])}",
            actor="test",
            timezone=rng.choice(_ZONES),
            plan=rng.choice(_PLANS),
            contact_email=rng.choice([None, f"x{len(ids)}@example.org"]),
            metadata={"k": rng.randrange(5)},
            trial_days=rng.randrange(1, 20),
        )
        ids.append(result.tenant.id)
        return
    tenant_id = rng.choice(ids)
    if roll < 0.20:
        clock.advance(timedelta(hours=rng.choice([1, 7, 30, 24 * 8, 24 * 91])))
    elif roll < 0.30:
        changes: dict[str, object] = {
            "name": f"Renamed {rng.randrange(100)}",
            "plan": rng.choice(_PLANS),
        }
        if rng.random() < 0.5:
            changes["metadata"] = {"v": rng.randrange(3), "nested": {"_type_": "x", "_data_": 1}}
        registry.update_profile(tenant_id, changes, actor="test")
    elif roll < 0.36:
        registry.expire_trial(tenant_id)
    elif roll < 0.42:
        registry.expire_grace(tenant_id)
    elif roll < 0.47 and deleted:
        registry.purge(rng.choice(sorted(deleted)))
    else:
        result = registry.run(rng.choice(COMMANDS), tenant_id, actor="test", reason="why not")
        if result.tenant.is_deleted:
            deleted.add(tenant_id)


@pytest.mark.parametrize("seed", [11])
def test_read_table_equals_replay_after_random_histories(
    settings: Settings, registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel,
    seed: int,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    ids: list[UUID] = []
    deleted: set[UUID] = set()
    for step in range(600):
        with contextlib.suppress(DomainError, TenantGone):
            _random_step(rng, registry, clock, ids, deleted)
        if step % 37 == 0:
            # Small batches: a tenant's events spread over many batches and commits.
            catch_up(settings, batch_size=rng.choice([1, 3, 17]))
    catch_up(settings, batch_size=50)

    purged = 0
    for tenant_id in ids:
        try:
            tenant = registry.get_tenant(tenant_id)
        except TenantGone as gone:
            with pytest.raises(TenantGone) as seen:
                read_model.get(tenant_id)
            assert seen.value.purged_at == gone.purged_at
            purged += 1
            continue
        assert read_model.get(tenant_id) == expected_row(tenant)
    assert purged > 0, "the random history should include purges"
    assert read_model.position() == registry.head()


def test_events_of_one_tenant_in_later_batches_apply_on_its_row(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    tenant_id = registry.register(slug="acme", name="Acme", actor="test").tenant.id
    catch_up(settings)
    registry.run(Command.ACTIVATE, tenant_id, actor="test")
    registry.update_profile(tenant_id, {"metadata": {"a": 1}}, actor="test")
    registry.run(Command.PAUSE, tenant_id, actor="test")
    catch_up(settings, batch_size=1)
    assert read_model.get(tenant_id) == expected_row(registry.get_tenant(tenant_id))


def _append_raw_event(settings: Settings, tenant_id: UUID, version: int) -> int:
    """An event the projection cannot apply (an activation of a tenant it never saw)."""
    state = OrjsonTranscoder().encode({"timestamp": datetime.now(UTC), "actor": "x"})
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s) RETURNING notification_id"
            ).format(sql.Identifier(settings.db_schema, EVENTS_TABLE)),
            (tenant_id, version, Tenant.Activated.TOPIC, state),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_event_that_cannot_be_projected_stops_progress_and_says_where(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    registry.register(slug="before", name="Before", actor="test")
    catch_up(settings)
    reached = tracked_position(settings)
    bad = _append_raw_event(settings, uuid4(), 2)
    later = registry.register(slug="after", name="After", actor="test").tenant.id

    with pytest.raises(ProjectionError) as error:
        catch_up(settings)
    assert error.value.position == bad
    # Nothing past the bad event was skipped over, and nothing of its batch was kept.
    assert tracked_position(settings) == reached
    assert read_model.get(later) is None
    (status,) = read_model.projections()
    assert status.last_error is not None
    assert str(bad) in status.last_error
    assert status.lag_events > 0
    with pytest.raises(ProjectionError):
        catch_up(settings, batch_size=1)
    assert tracked_position(settings) == reached


def test_rows_the_database_refuses_stop_progress_instead_of_looking_like_an_outage(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel, clock: FrozenClock
) -> None:
    # An event stored before validation refused NUL: jsonb cannot hold U+0000.
    tenant = Tenant._create(
        Tenant.Registered,
        id=uuid4(),
        timestamp=clock.now(),
        actor="test",
        reason=None,
        correlation_id=None,
        slug="nul-meta",
        name="Nul",
        timezone="UTC",
        plan="standard",
        contact_email=None,
        metadata={"k": "a\x00b"},
        trial_ends_at=clock.now(),
    )
    bad = registry._save(tenant)

    with pytest.raises(ProjectionError) as error:
        catch_up(settings)
    assert (error.value.position, error.value.tenant_id) == (bad, tenant.id)
    (status,) = read_model.projections()
    assert status.last_error is not None
    assert "UntranslatableCharacter" in status.last_error or "\\u0000" in status.last_error
