"""Deadlines fall at local midnight in the tenant's own calendar, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import NotDue
from tests.domain.factories import ACTOR, new_tenant


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize(
    ("registered", "zone", "trial_ends"),
    [
        # Local date 2027-03-20 (01:30 IDT... +02:00 then); DST starts on 2027-03-26 in between.
        ("2027-03-19T23:30:00Z", "Asia/Jerusalem", "2027-04-02T21:00:00Z"),
        # DST ends on 2027-10-31 in between: midnight moves from +03:00 to +02:00.
        ("2027-10-25T07:00:00Z", "Asia/Jerusalem", "2027-11-07T22:00:00Z"),
        # New York's own midnight: 2027-03-14 is the US spring-forward day.
        ("2027-03-05T12:00:00Z", "America/New_York", "2027-03-19T04:00:00Z"),
        ("2027-01-05T03:00:00Z", "America/New_York", "2027-01-18T05:00:00Z"),
    ],
)
def test_trial_ends_at_local_midnight(registered: str, zone: str, trial_ends: str) -> None:
    tenant = new_tenant(at(registered), timezone=zone, trial_days=14)
    assert tenant.trial_ends_at == at(trial_ends)


def test_grace_ends_at_local_midnight_after_grace_days() -> None:
    tenant = new_tenant(at("2027-06-01T10:00:00Z"))
    tenant.activate(now=at("2027-06-02T10:00:00Z"), actor=ACTOR)
    tenant.start_grace(now=at("2027-06-03T21:30:00Z"), actor=ACTOR, grace_days=7)
    # 00:30 local on 2027-06-04 (+03:00): local date + 7 = 2027-06-11 00:00 local.
    assert tenant.grace_ends_at == at("2027-06-10T21:00:00Z")


def test_trial_expires_only_when_due() -> None:
    tenant = new_tenant(at("2027-01-01T10:00:00Z"), trial_days=1)
    due = tenant.trial_ends_at
    with pytest.raises(NotDue):
        tenant.expire_trial(now=due - timedelta(seconds=1), actor="sweep:trials", grace_days=7)
    tenant.expire_trial(now=due, actor="sweep:trials", grace_days=7)
    assert tenant.status.value == "grace"
    # Expired at 00:00 local on 2027-01-02: grace runs to 00:00 local on 2027-01-09.
    assert tenant.grace_ends_at == at("2027-01-08T22:00:00Z")


def test_grace_expiry_pauses_with_reason() -> None:
    tenant = new_tenant(at("2027-01-01T10:00:00Z"), trial_days=1)
    tenant.expire_trial(now=tenant.trial_ends_at, actor="sweep:trials", grace_days=7)
    assert tenant.grace_ends_at is not None
    with pytest.raises(NotDue):
        tenant.expire_grace(now=tenant.grace_ends_at - timedelta(seconds=1), actor="sweep:grace")
    tenant.expire_grace(now=tenant.grace_ends_at, actor="sweep:grace")
    event = tenant.collect_events()[-1]
    assert tenant.status.value == "paused"
    assert tenant.grace_ends_at is None
    assert event.reason == "grace_expired"
