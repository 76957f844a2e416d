"""When the sweeps run: cron slots in business time, as UTC instants (pure functions).

A *slot* is one instant at which a cron expression fires, read in the business time zone
(``Settings.timezone``), so ``30 3 * * *`` in ``Asia/Jerusalem`` is 01:30Z in winter and
00:30Z in summer. The same expressions drive RQ's ``CronScheduler`` (which reads them in the
process's local time, so the scheduler process runs with ``TZ`` set to the business zone); these
functions name the slot a dispatch belongs to, and that name is what makes two schedulers'
dispatches of one slot collapse into one sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]

from common.settings import Settings

SweepName = Literal["trials", "grace", "purge"]
SWEEPS: tuple[SweepName, ...] = get_args(SweepName)

#: A dispatch may run a little before its slot on another host's clock; it still belongs to it.
MAX_SKEW = timedelta(seconds=60)


def cron_for(settings: Settings, sweep: SweepName) -> str:
    """The cron expression of one sweep, from the settings."""
    crons: dict[SweepName, str] = {
        "trials": settings.sweep_trials_cron,
        "grace": settings.sweep_grace_cron,
        "purge": settings.sweep_purge_cron,
    }
    return crons[sweep]


def is_valid_cron(expression: str) -> bool:
    """Whether ``expression`` is a cron expression (5 fields, or 6 with seconds)."""
    return bool(croniter.is_valid(expression))


def iter_slots(expression: str, zone: str, after: datetime) -> Iterator[datetime]:
    """The slots strictly after ``after``, in order, as UTC instants.

    DST (croniter's reading): a wall time that happens twice (the autumn change) is a slot
    both times; a wall time that does not exist (the spring change) is skipped by hourly
    expressions, and a daily one moves to the first instant after the gap. Either way every
    real hour gets its hourly sweep, and a repeated daily sweep is harmless (sweeps are
    idempotent). In Asia/Jerusalem the changes happen at 02:00, so 03:30 is always one slot.
    """
    _require_aware(after)
    it = croniter(expression, after.astimezone(ZoneInfo(zone)))
    last = after.astimezone(UTC)
    while True:
        slot = it.get_next(datetime).astimezone(UTC)
        if slot > last:  # croniter may repeat an instant around a DST change
            last = slot
            yield slot


def next_slots(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` slots strictly after ``after``, as UTC instants."""
    return list(islice(iter_slots(expression, zone, after), count))


def slot_of(expression: str, zone: str, at: datetime) -> datetime:
    """The slot a dispatch fired at ``at`` belongs to: the latest slot not after ``at``.

    A dispatch fired up to ``MAX_SKEW`` (or a tenth of the slot spacing, if that is shorter)
    before its slot belongs to that slot, so a scheduler whose clock runs a little fast does not
    dispatch the previous slot again.
    """
    _require_aware(at)
    upcoming = next_slots(expression, zone, at, 1)[0]
    spacing = next_slots(expression, zone, upcoming, 1)[0] - upcoming
    if upcoming - at <= min(MAX_SKEW, spacing / 10):
        return upcoming
    it = croniter(expression, upcoming.astimezone(ZoneInfo(zone)))
    slot: datetime = it.get_prev(datetime).astimezone(UTC)
    while slot > at:  # the same DST repeat as in iter_slots
        slot = it.get_prev(datetime).astimezone(UTC)
    return slot


def slot_key(slot: datetime) -> str:
    """A slot as a compact UTC stamp usable in RQ job ids: ``20270110T013000Z``."""
    _require_aware(slot)
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sweep_job_id(sweep: SweepName, slot: datetime) -> str:
    """The deterministic RQ job id of one sweep's run for one slot.

    RQ 3 job ids allow only letters, digits, ``_`` and ``-`` (a ``:`` separates an execution
    id), hence ``sweep-purge-20270110T013000Z`` rather than ``purge:<ISO>``.
    """
    return f"sweep-{sweep}-{slot_key(slot)}"


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        msg = "slots are computed from timezone-aware instants"
        raise ValueError(msg)
