"""Deadlines in a tenant's local calendar."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_midnight_after(now: datetime, zone: str, days: int) -> datetime:
    """00:00 local time in ``zone`` on the local date of ``now`` plus ``days``, as a UTC instant.

    Calendar days, not 24-hour periods: a DST change in between does not shift the deadline.
    Where midnight does not exist locally (a spring-forward at 00:00) the wall time is read
    with the offset in force before the change, which names the first instant of that day.
    """
    tz = ZoneInfo(zone)
    local_date = now.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(local_date, time(0, 0), tzinfo=tz).astimezone(UTC)
