"""Slots of the schedule, in business time (pure functions, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.settings import Settings
from workers.slots import cron_for, next_slots, slot_of, sweep_job_id

ISRAEL = "Asia/Jerusalem"
DEFAULTS = Settings.model_validate({})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_daily_purge_runs_at_0330_israel_time_in_winter_and_summer() -> None:
    purge = cron_for(DEFAULTS, "purge")
    assert next_slots(purge, ISRAEL, at("2027-01-15T12:00:00+00:00"), 2) == [
        at("2027-01-16T01:30:00+00:00"),
        at("2027-01-17T01:30:00+00:00"),
    ]
    assert next_slots(purge, ISRAEL, at("2027-07-15T12:00:00+00:00"), 1) == [
        at("2027-07-16T00:30:00+00:00")
    ]


def test_purge_follows_the_dst_changes_of_the_business_zone() -> None:
    purge = cron_for(DEFAULTS, "purge")
    # Israel moves to summer time on Friday 2027-03-26 02:00 and back on 2027-10-31 02:00.
    assert next_slots(purge, ISRAEL, at("2027-03-24T12:00:00+00:00"), 3) == [
        at("2027-03-25T01:30:00+00:00"),
        at("2027-03-26T00:30:00+00:00"),
        at("2027-03-27T00:30:00+00:00"),
    ]
    assert next_slots(purge, ISRAEL, at("2027-10-29T12:00:00+00:00"), 3) == [
        at("2027-10-30T00:30:00+00:00"),
        at("2027-10-31T01:30:00+00:00"),
        at("2027-11-01T01:30:00+00:00"),
    ]


def test_hourly_sweeps_run_at_minute_5_every_real_hour_across_the_autumn_change() -> None:
    trials = cron_for(DEFAULTS, "trials")
    assert trials == cron_for(DEFAULTS, "grace")
    # 01:05 local happens twice on 2027-10-31 (22:05Z in summer time, 23:05Z in winter time).
    slots = next_slots(trials, ISRAEL, at("2027-10-30T21:00:00+00:00"), 4)
    assert slots == [at(f"2027-10-30T{h}:05:00+00:00") for h in (21, 22, 23)] + [
        at("2027-10-31T00:05:00+00:00")
    ]


def test_hourly_slots_skip_the_missing_hour_of_the_spring_change() -> None:
    # New York skips 02:00-03:00 on 2027-03-14: 01:05 EST (06:05Z) is followed by 03:05 EDT.
    slots = next_slots("5 * * * *", "America/New_York", at("2027-03-14T06:00:00+00:00"), 2)
    assert slots == [at("2027-03-14T06:05:00+00:00"), at("2027-03-14T07:05:00+00:00")]


@pytest.mark.parametrize(
    ("fired", "slot"),
    [
        ("2027-01-10T10:05:00.020+00:00", "2027-01-10T10:05:00+00:00"),  # on time
        ("2027-01-10T10:50:00+00:00", "2027-01-10T10:05:00+00:00"),  # late (catch-up)
        ("2027-01-10T10:04:30+00:00", "2027-01-10T10:05:00+00:00"),  # clock a little fast
        ("2027-01-10T10:03:00+00:00", "2027-01-10T09:05:00+00:00"),  # not that fast
    ],
)
def test_a_dispatch_belongs_to_the_latest_slot_allowing_a_little_clock_skew(
    fired: str, slot: str
) -> None:
    assert slot_of("5 * * * *", ISRAEL, at(fired)) == at(slot)


def test_the_skew_allowance_shrinks_with_the_slot_spacing() -> None:
    every_second = "* * * * * *"
    base = at("2027-01-10T10:00:00+00:00")
    assert slot_of(every_second, ISRAEL, base + timedelta(milliseconds=300)) == base
    assert slot_of(every_second, ISRAEL, base + timedelta(milliseconds=950)) == base + timedelta(
        seconds=1
    )


def test_sweep_job_ids_are_deterministic_per_sweep_and_slot() -> None:
    slot = at("2027-01-16T03:30:00+02:00")
    assert sweep_job_id("purge", slot) == "sweep-purge-20270116T013000Z"
    assert sweep_job_id("purge", slot) != sweep_job_id("trials", slot)


def test_slots_refuse_naive_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slot_of("5 * * * *", ISRAEL, datetime(2027, 1, 1, 10, 0))
