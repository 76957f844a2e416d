"""Every command from every state: allowed ones move the tenant, others are refused or no-ops."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidTransition
from domain.lifecycle import COMMANDS, Command
from domain.tenant import Tenant
from tests.domain.factories import ACTOR, T0, tenant_in

STATES = ("trial", "active", "grace", "paused", "cancelled", "deleted", "deleted-expired")

# (state, command) -> the resulting status and deleted flag; missing pairs are no-ops or refusals.
MOVES: dict[tuple[str, str], tuple[str, bool]] = {
    ("trial", "activate"): ("active", False),
    ("grace", "activate"): ("active", False),
    ("paused", "activate"): ("active", False),
    ("active", "start-grace"): ("grace", False),
    ("trial", "pause"): ("paused", False),
    ("active", "pause"): ("paused", False),
    ("grace", "pause"): ("paused", False),
    ("trial", "cancel"): ("cancelled", False),
    ("active", "cancel"): ("cancelled", False),
    ("grace", "cancel"): ("cancelled", False),
    ("paused", "cancel"): ("cancelled", False),
    ("cancelled", "reactivate"): ("active", False),
    ("cancelled", "delete"): ("cancelled", True),
    ("deleted", "restore"): ("cancelled", False),
}

NO_OPS = {
    ("active", "activate"),
    ("active", "reactivate"),
    ("grace", "start-grace"),
    ("paused", "pause"),
    ("cancelled", "cancel"),
    ("deleted", "cancel"),
    ("deleted-expired", "cancel"),
    ("deleted", "delete"),
    ("deleted-expired", "delete"),
    ("cancelled", "restore"),
}

ALLOWED: dict[str, tuple[str, ...]] = {
    "trial": ("activate", "pause", "cancel"),
    "active": ("start-grace", "pause", "cancel"),
    "grace": ("activate", "pause", "cancel"),
    "paused": ("activate", "cancel"),
    "cancelled": ("reactivate", "delete"),
    "deleted": ("restore",),
    "deleted-expired": (),
}


def run(tenant: Tenant, command: Command) -> None:
    tenant.execute(command, now=T0, actor=ACTOR, reason="test", grace_days=7, retention_days=90)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_from_every_state(state: str, command: Command) -> None:
    tenant = tenant_in(state)
    version = tenant.version
    if (state, command) in MOVES:
        run(tenant, command)
        status, deleted = MOVES[(state, command)]
        assert (tenant.status.value, tenant.is_deleted) == (status, deleted)
        assert tenant.version == version + 1
        event = tenant.collect_events()[0]
        assert (event.actor, event.reason) == (ACTOR, "test")  # type: ignore[attr-defined]
    elif (state, command) in NO_OPS:
        run(tenant, command)
        assert tenant.version == version
        assert tenant.collect_events() == []
    else:
        with pytest.raises(InvalidTransition) as refused:
            run(tenant, command)
        assert refused.value.current_status == tenant.status.value
        assert refused.value.allowed == ALLOWED[state]
        assert tenant.version == version
        assert tenant.collect_events() == []


@pytest.mark.parametrize("state", STATES)
def test_allowed_commands_are_exactly_those_that_change_the_tenant(state: str) -> None:
    assert tenant_in(state).allowed_commands(T0) == ALLOWED[state]


def test_restore_after_purge_after_is_refused_with_nothing_allowed() -> None:
    tenant = tenant_in("deleted-expired")
    with pytest.raises(InvalidTransition) as refused:
        tenant.restore(now=T0, actor=ACTOR)
    assert refused.value.allowed == ()


def test_delete_and_restore_keep_cancelled_at() -> None:
    tenant = tenant_in("cancelled")
    cancelled_at = tenant.cancelled_at
    tenant.delete(now=T0, actor=ACTOR, retention_days=90)
    assert tenant.deleted_at == T0
    assert tenant.purge_after == T0 + timedelta(days=90)
    tenant.restore(now=T0 + timedelta(days=1), actor=ACTOR)
    assert tenant.deleted_at is None
    assert tenant.purge_after is None
    assert tenant.cancelled_at == cancelled_at
    assert tenant.status.value == "cancelled"


def test_activation_clears_grace_deadline_and_records_latest_entry() -> None:
    tenant = tenant_in("grace")
    assert tenant.grace_ends_at is not None
    later = T0 + timedelta(days=2)
    tenant.activate(now=later, actor=ACTOR)
    assert tenant.grace_ends_at is None
    assert tenant.activated_at == later
    assert tenant.trial_ends_at is not None  # kept as history


def test_profile_update_on_deleted_tenant_is_refused() -> None:
    tenant = tenant_in("deleted")
    with pytest.raises(InvalidTransition) as refused:
        tenant.update_profile(now=T0, actor=ACTOR, name="New")
    assert refused.value.current_status == "cancelled"
    assert refused.value.allowed == ("restore",)
