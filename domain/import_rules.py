"""The rules for a tenant that arrives whole from another system (SPEC §13).

A row is checked field by field with the rules of a registration (:mod:`domain.validation`),
its instants must be timezone-aware and consistent, and what the row lacks is derived as the
lifecycle of SPEC §2 would have set it. Used by :meth:`domain.tenant.Tenant.import_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from domain import validation as v
from domain.calendar import local_midnight_after
from domain.lifecycle import Status

_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


def imported_state(
    state: Mapping[str, object],
    *,
    now: datetime,
    days: tuple[int, int, int],
) -> dict[str, Any]:
    """The fields of a ``TenantImported`` event for ``state``, or :class:`ValidationFailed`
    naming every field that breaks a rule. ``days``: trial, grace and retention days."""
    errors = v.Collector()
    fields = _import_profile(errors, state)
    times = _import_times(errors, state, now)
    status = state.get("status")
    if status not in _STATUSES:
        errors.add("status", f"must be one of {', '.join(_STATUSES)}")
    errors.raise_if_any()
    status = cast(str, status)
    zone = cast(str, fields["timezone"])
    times = _import_deadlines(errors, status, times, zone=zone, days=days)
    errors.raise_if_any()
    return {"status": status, **fields, **times}


_TIMES: tuple[str, ...] = (
    "created_at",
    "updated_at",
    "trial_ends_at",
    "grace_ends_at",
    "activated_at",
    "paused_at",
    "cancelled_at",
    "deleted_at",
    "purge_after",
)
#: The entry time each status holds, derived from ``updated_at`` when the row lacks it.
_ENTERED: dict[str, str] = {
    "active": "activated_at",
    "paused": "paused_at",
    "cancelled": "cancelled_at",
}


def _import_profile(errors: v.Collector, state: Mapping[str, object]) -> dict[str, Any]:
    """The imported row's slug and profile, checked as a registration checks them."""
    slug, timezone, plan = state.get("slug"), state.get("timezone"), state.get("plan")
    metadata = state.get("metadata")
    if problem := v.check_slug(slug):
        errors.add("slug", problem)
    name, problem = v.clean_name(state.get("name"))
    if problem:
        errors.add("name", problem)
    if problem := v.check_timezone(timezone):
        errors.add("timezone", problem)
    if problem := v.check_plan(plan):
        errors.add("plan", problem)
    email, problem = v.clean_email(state.get("contact_email"))
    if problem:
        errors.add("contact_email", problem)
    if problem := v.check_metadata(metadata):
        errors.add("metadata", problem)
    return {
        "slug": slug,
        "name": name,
        "timezone": timezone,
        "plan": plan,
        "contact_email": email,
        "metadata": dict(cast(dict[str, Any], metadata)) if isinstance(metadata, dict) else {},
    }


def _import_times(
    errors: v.Collector, state: Mapping[str, object], now: datetime
) -> dict[str, datetime | None]:
    """The row's instants: timezone-aware, none in the future, none before its creation."""
    times: dict[str, datetime | None] = {}
    for field in _TIMES:
        value = state.get(field)
        if value is None:
            times[field] = None
        elif not isinstance(value, datetime) or value.utcoffset() is None:
            errors.add(field, "must be a timezone-aware instant")
        else:
            times[field] = value
    created = times.get("created_at")
    if "created_at" in times and created is None:
        errors.add("created_at", "is required")
    elif created is not None and created > now:
        errors.add("created_at", "must not be in the future")
    elif created is not None:
        for field in ("updated_at", "activated_at", "paused_at", "cancelled_at", "deleted_at"):
            value = times.get(field)
            if value is not None and not created <= value <= now:
                errors.add(field, "must lie between created_at and now")
    return times


def _import_deadlines(
    errors: v.Collector,
    status: str,
    times: dict[str, datetime | None],
    *,
    zone: str,
    days: tuple[int, int, int],
) -> dict[str, Any]:
    """Fill what the lifecycle would have set; refuse a state it could never reach."""
    trial_days, grace_days, retention_days = days
    created = cast(datetime, times["created_at"])
    out: dict[str, Any] = dict(times)
    # Without an ``updated_at``, the latest recorded change is the best proxy for it.
    changes = (times[f] for f in ("activated_at", "paused_at", "cancelled_at", "deleted_at"))
    updated = out["updated_at"] = times["updated_at"] or max((created, *filter(None, changes)))
    if out["trial_ends_at"] is None:
        out["trial_ends_at"] = local_midnight_after(created, zone, trial_days)
    if status == "grace":
        if out["grace_ends_at"] is None:
            out["grace_ends_at"] = local_midnight_after(updated, zone, grace_days)
    else:
        out["grace_ends_at"] = None  # cleared whenever a tenant leaves grace
    entered = _ENTERED.get(status)
    if entered is not None and out[entered] is None:
        out[entered] = updated
    deleted = times["deleted_at"]
    if deleted is None:
        out["purge_after"] = None
    elif status != "cancelled":
        errors.add("deleted_at", "only a cancelled tenant can be soft-deleted")
    elif out["purge_after"] is None:
        out["purge_after"] = deleted + timedelta(days=retention_days)
    return out
