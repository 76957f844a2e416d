"""``Tenant.import_state``: a whole tenant from another system, by the domain's own rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper

from common.transcoder import OrjsonTranscoder
from domain.calendar import local_midnight_after
from domain.errors import ValidationFailed
from domain.slug_derivation import derive_slug
from domain.tenant import Status, Tenant
from tests.domain.factories import T0

DAY = timedelta(days=1)


def _state(**overrides: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "slug": "acme",
        "name": "Acme Ltd",
        "timezone": "Asia/Jerusalem",
        "plan": "pro",
        "contact_email": "ops@acme.example",
        "metadata": {"crm": "A-17"},
        "status": "active",
        "created_at": T0 - 300 * DAY,
        "updated_at": T0 - 10 * DAY,
        "activated_at": T0 - 200 * DAY,
    }
    state.update(overrides)
    return state


def _import(tenant_id: UUID | None = None, **overrides: Any) -> Tenant:
    return Tenant.import_state(
        tenant_id=tenant_id or uuid4(),
        state=_state(**overrides),
        now=T0,
        actor="import",
        trial_days=14,
        grace_days=7,
        retention_days=90,
    )


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_imported_tenant_carries_the_rows_state_and_its_own_times() -> None:
    tenant_id = uuid4()
    tenant = _import(tenant_id)
    assert tenant.id == tenant_id
    assert tenant.version == 1
    assert (tenant.slug, tenant.name, tenant.plan, tenant.status) == (
        "acme",
        "Acme Ltd",
        "pro",
        Status.ACTIVE,
    )
    assert tenant.created_at == T0 - 300 * DAY
    assert tenant.updated_at == T0 - 10 * DAY
    assert tenant.activated_at == T0 - 200 * DAY
    (event,) = tenant.collect_events()
    assert isinstance(event, Tenant.Imported)
    assert event.timestamp == T0
    assert event.actor == "import"


def test_missing_deadlines_are_derived_as_the_lifecycle_sets_them() -> None:
    trial = _import(status="trial", activated_at=None)
    assert trial.trial_ends_at == local_midnight_after(T0 - 300 * DAY, "Asia/Jerusalem", 14)
    grace = _import(status="grace")
    assert grace.grace_ends_at == local_midnight_after(T0 - 10 * DAY, "Asia/Jerusalem", 7)
    paused = _import(status="paused", grace_ends_at=T0)
    assert paused.paused_at == T0 - 10 * DAY  # latest entry into the status: its last change
    assert paused.grace_ends_at is None  # cleared outside grace


def test_soft_deleted_row_is_purged_a_retention_after_its_deletion() -> None:
    inside = _import(status="cancelled", deleted_at=T0 - 10 * DAY)
    assert inside.purge_after == T0 + 80 * DAY
    assert not inside.is_purge_due(T0)
    past = _import(status="cancelled", deleted_at=T0 - 100 * DAY)
    assert past.is_purge_due(T0)
    assert past.cancelled_at == T0 - 10 * DAY


def test_only_a_cancelled_row_may_be_soft_deleted() -> None:
    with pytest.raises(ValidationFailed) as exc:
        _import(status="active", deleted_at=T0 - DAY)
    assert _fields(exc) == {"deleted_at"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"status": "frozen"}, "status"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": None}, "name"),
        ({"name": "  "}, "name"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"contact_email": "nobody"}, "contact_email"),
        ({"created_at": T0 + DAY}, "created_at"),
        ({"created_at": None}, "created_at"),
        ({"updated_at": datetime(2026, 1, 1)}, "updated_at"),
        ({"activated_at": T0 - 400 * DAY}, "activated_at"),
    ],
)
def test_a_row_breaking_a_rule_is_refused_with_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        _import(**overrides)
    assert _fields(exc) == {field}


def test_imported_tenant_replays_from_its_stored_event_and_takes_commands() -> None:
    tenant = _import(status="paused", paused_at=T0 - 10 * DAY)
    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    (event,) = tenant.collect_events()
    decoded = mapper.to_domain_event(mapper.to_stored_event(event))
    assert isinstance(decoded, Tenant.Imported)
    replayed = decoded.mutate(None)
    assert isinstance(replayed, Tenant)
    assert replayed.__dict__ == tenant.__dict__
    replayed.activate(now=T0, actor="key:test")
    assert replayed.status is Status.ACTIVE
    assert replayed.updated_at == T0


def test_derived_slug_is_the_name_and_the_id() -> None:
    tenant_id = UUID("1a2b3c4d-0000-4000-8000-000000000000")
    assert derive_slug("Émile & Fils, S.A.", tenant_id) == "emile-fils-s-a-1a2b3c4d"
    assert derive_slug("שלום", tenant_id) == "tenant-1a2b3c4d"
    assert len(derive_slug("x" * 300, tenant_id)) == 63
