"""The ``Tenant`` aggregate: a customer organisation and its lifecycle (SPEC §2).

Every change is an event nested on the aggregate, with a stable explicit topic and a
``class_version``, so stored history survives moving or renaming code. Commands are named
guards: a refused command raises :class:`~domain.errors.InvalidTransition` with the commands
that are allowed from here; a command whose result is the current state records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as BaseSnapshot
from eventsourcing.utils import register_topic

from domain import validation as v
from domain.calendar import local_midnight_after
from domain.errors import InvalidTransition, NotDue
from domain.import_rules import imported_state


class Status(StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    GRACE = "grace"
    PAUSED = "paused"
    CANCELLED = "cancelled"


#: Lifecycle commands, spelled as in the URLs, in the order ``allowed`` lists them.
COMMANDS: tuple[str, ...] = (
    "activate",
    "start-grace",
    "pause",
    "cancel",
    "reactivate",
    "delete",
    "restore",
)

#: The fields of a tenant as the outside world sees it (SPEC §2), in a stable order.
TENANT_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "name",
    "timezone",
    "plan",
    "contact_email",
    "metadata",
    "status",
    "created_at",
    "updated_at",
    "trial_ends_at",
    "grace_ends_at",
    "activated_at",
    "paused_at",
    "cancelled_at",
    "deleted_at",
    "purge_after",
    "version",
)

PROFILE_FIELDS: tuple[str, ...] = ("name", "timezone", "plan", "contact_email", "metadata")

GRACE_EXPIRED_REASON = "grace_expired"


class _Unset:
    """Marks a profile field the caller did not mention."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _topic(name: str) -> str:
    return f"tenant-registry:{name}"


class Tenant(Aggregate):
    """A customer organisation of the SaaS."""

    TOPIC = _topic("Tenant")
    class_version = 1

    slug: str
    name: str
    timezone: str
    plan: str
    contact_email: str | None
    metadata: dict[str, Any]
    status: Status
    trial_ends_at: datetime
    grace_ends_at: datetime | None
    activated_at: datetime | None
    paused_at: datetime | None
    cancelled_at: datetime | None
    deleted_at: datetime | None
    purge_after: datetime | None

    # ---- events -------------------------------------------------------------------------

    class Event(Aggregate.Event):
        TOPIC = _topic("TenantEvent")
        actor: str
        reason: str | None

    class Registered(Event, Aggregate.Created):
        TOPIC = _topic("TenantRegistered")
        class_version = 1
        slug: str
        name: str
        timezone: str
        plan: str
        contact_email: str | None
        metadata: dict[str, Any]
        trial_ends_at: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.slug = self.slug
            tenant.name = self.name
            tenant.timezone = self.timezone
            tenant.plan = self.plan
            tenant.contact_email = self.contact_email
            tenant.metadata = dict(self.metadata)
            tenant.status = Status.TRIAL
            tenant.trial_ends_at = self.trial_ends_at
            tenant.grace_ends_at = None
            tenant.activated_at = None
            tenant.paused_at = None
            tenant.cancelled_at = None
            tenant.deleted_at = None
            tenant.purge_after = None

    class Imported(Event, Aggregate.Created):
        """A tenant brought in whole from another system's table (SPEC §13).

        A creation event like :class:`Registered`, carrying the complete state. Its
        ``timestamp`` is the import time; ``created_at`` and ``updated_at`` are the source
        row's and become the tenant's own.
        """

        TOPIC = _topic("TenantImported")
        class_version = 1
        slug: str
        name: str
        timezone: str
        plan: str
        contact_email: str | None
        metadata: dict[str, Any]
        status: str
        created_at: datetime
        updated_at: datetime
        trial_ends_at: datetime
        grace_ends_at: datetime | None
        activated_at: datetime | None
        paused_at: datetime | None
        cancelled_at: datetime | None
        deleted_at: datetime | None
        purge_after: datetime | None

        def apply(self, tenant: Tenant) -> None:
            tenant.slug = self.slug
            tenant.name = self.name
            tenant.timezone = self.timezone
            tenant.plan = self.plan
            tenant.contact_email = self.contact_email
            tenant.metadata = dict(self.metadata)
            tenant.status = Status(self.status)
            tenant.trial_ends_at = self.trial_ends_at
            tenant.grace_ends_at = self.grace_ends_at
            tenant.activated_at = self.activated_at
            tenant.paused_at = self.paused_at
            tenant.cancelled_at = self.cancelled_at
            tenant.deleted_at = self.deleted_at
            tenant.purge_after = self.purge_after

        def mutate(self, aggregate: Any) -> Any:
            """The tenant, created with the source's creation and modification times.

            What ``Aggregate.Created.mutate`` does, without matching this event's fields to
            the parameters of ``__init__`` by signature on every call (``Tenant.__init__``
            takes none): an import creates a million of these.
            """
            tenant = Tenant.__new__(Tenant)
            tenant.__base_init__(self.originator_id, self.originator_version, self.created_at)
            tenant.modified_on = self.updated_at
            self.apply(tenant)
            return tenant

    class Activated(Event):
        TOPIC = _topic("TenantActivated")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.ACTIVE
            tenant.activated_at = self.timestamp
            tenant.grace_ends_at = None

    class GracePeriodStarted(Event):
        TOPIC = _topic("TenantGracePeriodStarted")
        class_version = 1
        grace_ends_at: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.GRACE
            tenant.grace_ends_at = self.grace_ends_at

    class Paused(Event):
        TOPIC = _topic("TenantPaused")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.PAUSED
            tenant.paused_at = self.timestamp
            tenant.grace_ends_at = None

    class Cancelled(Event):
        TOPIC = _topic("TenantCancelled")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.CANCELLED
            tenant.cancelled_at = self.timestamp
            tenant.grace_ends_at = None

    class Reactivated(Event):
        TOPIC = _topic("TenantReactivated")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.ACTIVE
            tenant.activated_at = self.timestamp

    class Deleted(Event):
        TOPIC = _topic("TenantDeleted")
        class_version = 1
        purge_after: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.deleted_at = self.timestamp
            tenant.purge_after = self.purge_after

    class Restored(Event):
        TOPIC = _topic("TenantRestored")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.deleted_at = None
            tenant.purge_after = None

    class ProfileUpdated(Event):
        TOPIC = _topic("TenantProfileUpdated")
        class_version = 1
        changes: dict[str, Any]

        def apply(self, tenant: Tenant) -> None:
            for field, value in self.changes.items():
                setattr(tenant, field, dict(value) if field == "metadata" else value)

    class TrialExpired(Event):
        TOPIC = _topic("TenantTrialExpired")
        class_version = 1
        grace_ends_at: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.GRACE
            tenant.grace_ends_at = self.grace_ends_at

    class GraceExpired(Event):
        TOPIC = _topic("TenantGraceExpired")
        class_version = 1

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.PAUSED
            tenant.paused_at = self.timestamp
            tenant.grace_ends_at = None

    class Purged(Event):
        """The tenant's data was erased; only this PII-free event stays in the store."""

        TOPIC = _topic("TenantPurged")
        class_version = 1
        purged_at: datetime

        def mutate(self, aggregate: Any) -> Any:
            # After a purge this is the tenant's only stored event: it reconstructs nothing.
            if aggregate is None:
                return None
            return super().mutate(aggregate)

    class Snapshot(BaseSnapshot):
        TOPIC = _topic("TenantSnapshot")

        def mutate(self, _: None) -> Tenant:
            """The tenant as snapshotted; its status comes back as the :class:`Status` member
            (stored as its string, which ``is`` comparisons and ``.value`` would trip on)."""
            tenant = cast(Tenant, super().mutate(None))
            tenant.status = Status(tenant.status)
            return tenant

    # ---- construction -------------------------------------------------------------------

    def __init__(self) -> None:
        """State is set by :class:`Tenant.Registered`; register with :meth:`register`."""

    @classmethod
    def register(
        cls,
        *,
        slug: object,
        name: object,
        timezone: object,
        plan: object,
        contact_email: object,
        metadata: object,
        trial_days: object,
        now: datetime,
        actor: str,
        reason: str | None = None,
        tenant_id: UUID | None = None,
    ) -> Tenant:
        """Register a new tenant in ``trial``; its trial ends at local midnight."""
        errors = v.Collector()
        if problem := v.check_slug(slug):
            errors.add("slug", problem)
        clean_name, problem = v.clean_name(name)
        if problem:
            errors.add("name", problem)
        if problem := v.check_timezone(timezone):
            errors.add("timezone", problem)
        if problem := v.check_plan(plan):
            errors.add("plan", problem)
        email, problem = v.clean_email(contact_email)
        if problem:
            errors.add("contact_email", problem)
        if problem := v.check_metadata(metadata):
            errors.add("metadata", problem)
        if problem := v.check_days(trial_days, low=1, high=90):
            errors.add("trial_days", problem)
        _check_reason(errors, reason)
        errors.raise_if_any()
        slug, timezone, plan = cast(str, slug), cast(str, timezone), cast(str, plan)
        metadata, trial_days = cast(dict[str, Any], metadata), cast(int, trial_days)
        return cls._create(
            cls.Registered,
            id=tenant_id or uuid4(),
            timestamp=now,
            actor=actor,
            reason=reason,
            slug=slug,
            name=clean_name,
            timezone=timezone,
            plan=plan,
            contact_email=email,
            metadata=dict(metadata),
            trial_ends_at=local_midnight_after(now, timezone, trial_days),
        )

    @classmethod
    def import_state(
        cls,
        *,
        tenant_id: UUID,
        state: Mapping[str, object],
        now: datetime,
        actor: str,
        trial_days: int,
        grace_days: int,
        retention_days: int,
    ) -> Tenant:
        """A tenant from another system's row, checked by the rules of :meth:`register`.

        ``state`` holds the fields of :data:`TENANT_FIELDS` (``id`` and ``version`` aside);
        missing optional ones take their defaults. Deadlines missing from the row are derived
        as the lifecycle would have set them (SPEC §2): the trial ends ``trial_days`` local
        midnights after creation, a ``grace`` tenant's grace ``grace_days`` after its last
        change, a soft-deleted tenant is purged ``retention_days`` after its deletion.
        """
        fields = imported_state(
            state,
            now=now,
            statuses=tuple(s.value for s in Status),
            days=(trial_days, grace_days, retention_days),
        )
        return cls._create(
            cls.Imported, id=tenant_id, timestamp=now, actor=actor, reason=None, **fields
        )

    # ---- views --------------------------------------------------------------------------

    @property
    def created_at(self) -> datetime:
        return self.created_on

    @property
    def updated_at(self) -> datetime:
        return self.modified_on

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def can(self, command: str, now: datetime) -> bool:
        """Whether ``command`` would change the tenant from where it is now."""
        status = self.status
        if command == "activate":
            return status in (Status.TRIAL, Status.GRACE, Status.PAUSED)
        if command == "start-grace":
            return status is Status.ACTIVE
        if command == "pause":
            return status in (Status.TRIAL, Status.ACTIVE, Status.GRACE)
        if command == "cancel":
            return status in (Status.TRIAL, Status.ACTIVE, Status.GRACE, Status.PAUSED)
        if command in ("reactivate", "delete"):
            return status is Status.CANCELLED and not self.is_deleted
        if command == "restore":
            return self.purge_after is not None and now < self.purge_after
        msg = f"unknown command {command!r}"
        raise ValueError(msg)

    def is_current_result(self, command: str) -> bool:
        """Whether ``command`` would leave the tenant exactly where it is (a no-op)."""
        status = self.status
        results = {
            "activate": status is Status.ACTIVE,
            "reactivate": status is Status.ACTIVE,
            "start-grace": status is Status.GRACE,
            "pause": status is Status.PAUSED,
            "cancel": status is Status.CANCELLED,
            "delete": self.is_deleted,
            "restore": status is Status.CANCELLED and not self.is_deleted,
        }
        return results[command]

    def allowed_commands(self, now: datetime) -> tuple[str, ...]:
        """The lifecycle commands that would change the tenant from where it is now."""
        return tuple(c for c in COMMANDS if self.can(c, now))

    def is_trial_due(self, now: datetime) -> bool:
        return self.status is Status.TRIAL and self.trial_ends_at <= now

    def is_grace_due(self, now: datetime) -> bool:
        return (
            self.status is Status.GRACE
            and self.grace_ends_at is not None
            and self.grace_ends_at <= now
        )

    def is_purge_due(self, now: datetime) -> bool:
        return self.purge_after is not None and self.purge_after <= now

    # ---- lifecycle commands -------------------------------------------------------------

    def _enter(self, command: str, now: datetime) -> bool:
        """Guard shared by the lifecycle commands: False for a no-op, raise when refused."""
        if self.is_current_result(command) and not (command == "restore" and self.is_deleted):
            return False
        if not self.can(command, now):
            raise InvalidTransition(command, self.status.value, self.allowed_commands(now))
        return True

    def activate(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Payment confirmed: ``trial``, ``grace`` or ``paused`` become ``active``."""
        _validate_reason(reason)
        if self._enter("activate", now):
            self.trigger_event(self.Activated, timestamp=now, actor=actor, reason=reason)

    def start_grace(
        self, *, now: datetime, actor: str, grace_days: int, reason: str | None = None
    ) -> None:
        """Payment failed: an ``active`` tenant enters ``grace`` until local midnight."""
        _validate_reason(reason)
        if self._enter("start-grace", now):
            self.trigger_event(
                self.GracePeriodStarted,
                timestamp=now,
                actor=actor,
                reason=reason,
                grace_ends_at=local_midnight_after(now, self.timezone, grace_days),
            )

    def pause(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Suspend a ``trial``, ``active`` or ``grace`` tenant."""
        _validate_reason(reason)
        if self._enter("pause", now):
            self.trigger_event(self.Paused, timestamp=now, actor=actor, reason=reason)

    def cancel(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """End the subscription of any tenant that is not yet ``cancelled``."""
        _validate_reason(reason)
        if self._enter("cancel", now):
            self.trigger_event(self.Cancelled, timestamp=now, actor=actor, reason=reason)

    def reactivate(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Bring a ``cancelled`` tenant that is not deleted back to ``active``."""
        _validate_reason(reason)
        if self._enter("reactivate", now):
            self.trigger_event(self.Reactivated, timestamp=now, actor=actor, reason=reason)

    def delete(
        self, *, now: datetime, actor: str, retention_days: int, reason: str | None = None
    ) -> None:
        """Soft-delete a ``cancelled`` tenant; its data is purged ``retention_days`` later."""
        _validate_reason(reason)
        if self._enter("delete", now):
            self.trigger_event(
                self.Deleted,
                timestamp=now,
                actor=actor,
                reason=reason,
                purge_after=now + timedelta(days=retention_days),
            )

    def restore(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Undo a soft delete while the retention period lasts."""
        _validate_reason(reason)
        if self._enter("restore", now):
            self.trigger_event(self.Restored, timestamp=now, actor=actor, reason=reason)

    def update_profile(
        self,
        *,
        now: datetime,
        actor: str,
        reason: str | None = None,
        name: object = UNSET,
        timezone: object = UNSET,
        plan: object = UNSET,
        contact_email: object = UNSET,
        metadata: object = UNSET,
    ) -> None:
        """Change profile fields; one event with only the fields that really change."""
        if self.is_deleted:
            command = "update"
            raise InvalidTransition(command, self.status.value, self.allowed_commands(now))
        errors = v.Collector()
        changes: dict[str, Any] = {}
        if name is not UNSET:
            clean, problem = v.clean_name(name)
            _collect(errors, changes, "name", clean, problem)
        if timezone is not UNSET:
            _collect(errors, changes, "timezone", timezone, v.check_timezone(timezone))
        if plan is not UNSET:
            _collect(errors, changes, "plan", plan, v.check_plan(plan))
        if contact_email is not UNSET:
            email, problem = v.clean_email(contact_email)
            _collect(errors, changes, "contact_email", email, problem)
        if metadata is not UNSET:
            _collect(errors, changes, "metadata", metadata, v.check_metadata(metadata))
        _check_reason(errors, reason)
        errors.raise_if_any()
        changed = {k: val for k, val in changes.items() if getattr(self, k) != val}
        if changed:
            self.trigger_event(
                self.ProfileUpdated, timestamp=now, actor=actor, reason=reason, changes=changed
            )

    # ---- sweeps -------------------------------------------------------------------------

    def expire_trial(self, *, now: datetime, actor: str, grace_days: int) -> None:
        """The trial ended unpaid: the tenant enters ``grace``."""
        if not self.is_trial_due(now):
            msg = f"trial of {self.id} is not due ({self.status.value})"
            raise NotDue(msg)
        self.trigger_event(
            self.TrialExpired,
            timestamp=now,
            actor=actor,
            reason=None,
            grace_ends_at=local_midnight_after(now, self.timezone, grace_days),
        )

    def expire_grace(self, *, now: datetime, actor: str) -> None:
        """Grace ran out unpaid: the tenant is ``paused``."""
        if not self.is_grace_due(now):
            msg = f"grace of {self.id} is not due ({self.status.value})"
            raise NotDue(msg)
        self.trigger_event(
            self.GraceExpired, timestamp=now, actor=actor, reason=GRACE_EXPIRED_REASON
        )

    def purge(self, *, now: datetime, actor: str) -> None:
        """Retention is over: record the erasure (the store removes everything else)."""
        if not self.is_purge_due(now):
            msg = f"tenant {self.id} is not due for purge"
            raise NotDue(msg)
        self.trigger_event(self.Purged, timestamp=now, actor=actor, reason=None, purged_at=now)


def _check_reason(errors: v.Collector, reason: object) -> None:
    if problem := v.check_reason(reason):
        errors.add("reason", problem)


def _validate_reason(reason: object) -> None:
    errors = v.Collector()
    _check_reason(errors, reason)
    errors.raise_if_any()


def _collect(
    errors: v.Collector, changes: dict[str, Any], field: str, value: object, problem: str | None
) -> None:
    if problem:
        errors.add(field, problem)
    else:
        changes[field] = value


def event_type(topic: str) -> str:
    """The public event type (``TenantActivated``) of a stored event topic."""
    return topic.rpartition(":")[2]


#: Topics of the events the feed and the read side care about, by public type.
TENANT_EVENT_CLASSES: tuple[type[Tenant.Event], ...] = (
    Tenant.Registered,
    Tenant.Activated,
    Tenant.GracePeriodStarted,
    Tenant.Paused,
    Tenant.Cancelled,
    Tenant.Reactivated,
    Tenant.Deleted,
    Tenant.Restored,
    Tenant.ProfileUpdated,
    Tenant.TrialExpired,
    Tenant.GraceExpired,
    Tenant.Purged,
    Tenant.Imported,
)
TENANT_TOPICS: dict[str, str] = {event_type(c.TOPIC): c.TOPIC for c in TENANT_EVENT_CLASSES}

register_topic(Tenant.Snapshot.TOPIC, Tenant.Snapshot)
