"""The ``Tenant`` aggregate: a customer organisation and its lifecycle (SPEC §2).

Every change is an event nested on the aggregate, with a stable explicit topic and a
``class_version``, so stored history survives moving or renaming code. Commands are named
guards: a refused command raises :class:`~domain.errors.InvalidTransition` with the commands
that are allowed from here; a command whose result is the current state records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
from domain.lifecycle import COMMANDS, TRANSITIONS, Command, Stage, Status, is_no_op

__all__ = ["COMMANDS", "Command", "Status", "Tenant"]


class Kind(StrEnum):
    """What a field of a tenant holds, whatever layer stores or shows it."""

    ID = "id"
    TEXT = "text"
    JSON = "json"
    INSTANT = "instant"
    COUNT = "count"


@dataclass(frozen=True)
class FieldShape:
    """One field of a tenant: its name, what it holds, and whether it can be null."""

    name: str
    kind: Kind
    nullable: bool = False


def _fields(kind: Kind, *names: str, nullable: bool = False) -> tuple[FieldShape, ...]:
    return tuple(FieldShape(n, kind, nullable) for n in names)


#: A tenant as the outside world sees it (SPEC §2), in a stable order: the one declaration
#: the read row, the read table's columns and DDL, and the API's response model follow
#: (``tests/projections/test_tenant_shape.py`` proves they agree).
TENANT_SHAPE: tuple[FieldShape, ...] = (
    FieldShape("id", Kind.ID),
    *_fields(Kind.TEXT, "slug", "name", "timezone", "plan"),
    FieldShape("contact_email", Kind.TEXT, nullable=True),
    FieldShape("metadata", Kind.JSON),
    FieldShape("status", Kind.TEXT),
    *_fields(Kind.INSTANT, "created_at", "updated_at"),
    *_fields(
        Kind.INSTANT,
        "trial_ends_at",
        "grace_ends_at",
        "activated_at",
        "paused_at",
        "cancelled_at",
        "deleted_at",
        "purge_after",
        nullable=True,
    ),
    FieldShape("version", Kind.COUNT),
)

#: The names of :data:`TENANT_SHAPE`, in order.
TENANT_FIELDS: tuple[str, ...] = tuple(f.name for f in TENANT_SHAPE)

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
        """Every tenant event records who caused it, why, and the request (or sweep run, or CLI
        invocation) it came from. Version 2 added ``correlation_id``; stored version 1 events
        are upcast on load (the library calls ``upcast_v1_v2`` on the event's class, and every
        tenant event inherits this one)."""

        TOPIC = _topic("TenantEvent")
        class_version = 2
        actor: str
        reason: str | None
        correlation_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["correlation_id"] = None

    class Registered(Event, Aggregate.Created):
        TOPIC = _topic("TenantRegistered")
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
        row's and become the tenant's own. New with the events' ``class_version`` 2 (it has
        ``correlation_id`` from the start: no stored version 1 to upcast).
        """

        TOPIC = _topic("TenantImported")
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

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.ACTIVE
            tenant.activated_at = self.timestamp
            tenant.grace_ends_at = None

    class GracePeriodStarted(Event):
        TOPIC = _topic("TenantGracePeriodStarted")
        grace_ends_at: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.GRACE
            tenant.grace_ends_at = self.grace_ends_at

    class Paused(Event):
        TOPIC = _topic("TenantPaused")

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.PAUSED
            tenant.paused_at = self.timestamp
            tenant.grace_ends_at = None

    class Cancelled(Event):
        TOPIC = _topic("TenantCancelled")

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.CANCELLED
            tenant.cancelled_at = self.timestamp
            tenant.grace_ends_at = None

    class Reactivated(Event):
        TOPIC = _topic("TenantReactivated")

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.ACTIVE
            tenant.activated_at = self.timestamp

    class Deleted(Event):
        TOPIC = _topic("TenantDeleted")
        purge_after: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.deleted_at = self.timestamp
            tenant.purge_after = self.purge_after

    class Restored(Event):
        TOPIC = _topic("TenantRestored")

        def apply(self, tenant: Tenant) -> None:
            tenant.deleted_at = None
            tenant.purge_after = None

    class ProfileUpdated(Event):
        TOPIC = _topic("TenantProfileUpdated")
        changes: dict[str, Any]

        def apply(self, tenant: Tenant) -> None:
            for field, value in self.changes.items():
                setattr(tenant, field, dict(value) if field == "metadata" else value)

    class TrialExpired(Event):
        TOPIC = _topic("TenantTrialExpired")
        grace_ends_at: datetime

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.GRACE
            tenant.grace_ends_at = self.grace_ends_at

    class GraceExpired(Event):
        TOPIC = _topic("TenantGraceExpired")

        def apply(self, tenant: Tenant) -> None:
            tenant.status = Status.PAUSED
            tenant.paused_at = self.timestamp
            tenant.grace_ends_at = None

    class Purged(Event):
        """The tenant's data was erased; only this PII-free event stays in the store."""

        TOPIC = _topic("TenantPurged")
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
        correlation_id: str | None = None,
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
            correlation_id=correlation_id,
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
        correlation_id: str | None = None,
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
            days=(trial_days, grace_days, retention_days),
        )
        return cls._create(
            cls.Imported,
            id=tenant_id,
            timestamp=now,
            actor=actor,
            reason=None,
            correlation_id=correlation_id,
            **fields,
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

    @property
    def stage(self) -> Stage:
        """Where the tenant stands for the lifecycle table (soft-deleted, or its status)."""
        return Stage.DELETED if self.is_deleted else Stage(self.status.value)

    def can(self, command: Command, now: datetime) -> bool:
        """Whether ``command`` would change the tenant from where it is now."""
        if self.stage not in TRANSITIONS[command].sources:
            return False
        if command is Command.RESTORE:
            return self.purge_after is not None and now < self.purge_after
        return True

    def is_current_result(self, command: Command) -> bool:
        """Whether ``command`` would leave the tenant exactly where it is (a no-op)."""
        return is_no_op(command, self.stage)

    def allowed_commands(self, now: datetime) -> tuple[Command, ...]:
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

    def execute(
        self,
        command: Command,
        *,
        now: datetime,
        actor: str,
        reason: str | None = None,
        correlation_id: str | None = None,
        grace_days: int = 0,
        retention_days: int = 0,
    ) -> None:
        """Run a lifecycle command: record its event, nothing for a no-op, or refuse it."""
        _validate_reason(reason)
        if not self._enter(command, now):
            return
        event_class, fields = self._event_for(command, now, grace_days, retention_days)
        self._record(event_class, now, actor, reason, correlation_id, **fields)

    def _record(
        self,
        event_class: type[Tenant.Event],
        now: datetime,
        actor: str,
        reason: str | None,
        correlation_id: str | None,
        **fields: Any,
    ) -> None:
        """Trigger an event with what every tenant event records."""
        self.trigger_event(
            event_class,
            timestamp=now,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
            **fields,
        )

    def _event_for(
        self, command: Command, now: datetime, grace_days: int, retention_days: int
    ) -> tuple[type[Tenant.Event], dict[str, Any]]:
        if command is Command.START_GRACE:
            ends = local_midnight_after(now, self.timezone, grace_days)
            return self.GracePeriodStarted, {"grace_ends_at": ends}
        if command is Command.DELETE:
            return self.Deleted, {"purge_after": now + timedelta(days=retention_days)}
        return _PLAIN_EVENTS[command], {}

    def _enter(self, command: Command, now: datetime) -> bool:
        """The table's guard: False for a no-op, raise when refused, True to move."""
        if self.is_current_result(command):
            return False
        if not self.can(command, now):
            raise InvalidTransition(command, self.status.value, self.allowed_commands(now))
        return True

    # The named commands, for code that knows which one it runs (tests, imports).

    def activate(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Payment confirmed: ``trial``, ``grace`` or ``paused`` become ``active``."""
        self.execute(Command.ACTIVATE, now=now, actor=actor, reason=reason)

    def start_grace(
        self, *, now: datetime, actor: str, grace_days: int, reason: str | None = None
    ) -> None:
        """Payment failed: an ``active`` tenant enters ``grace`` until local midnight."""
        self.execute(
            Command.START_GRACE, now=now, actor=actor, reason=reason, grace_days=grace_days
        )

    def pause(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Suspend a ``trial``, ``active`` or ``grace`` tenant."""
        self.execute(Command.PAUSE, now=now, actor=actor, reason=reason)

    def cancel(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """End the subscription of any tenant that is not yet ``cancelled``."""
        self.execute(Command.CANCEL, now=now, actor=actor, reason=reason)

    def reactivate(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Bring a ``cancelled`` tenant that is not deleted back to ``active``."""
        self.execute(Command.REACTIVATE, now=now, actor=actor, reason=reason)

    def delete(
        self, *, now: datetime, actor: str, retention_days: int, reason: str | None = None
    ) -> None:
        """Soft-delete a ``cancelled`` tenant; its data is purged ``retention_days`` later."""
        self.execute(
            Command.DELETE, now=now, actor=actor, reason=reason, retention_days=retention_days
        )

    def restore(self, *, now: datetime, actor: str, reason: str | None = None) -> None:
        """Undo a soft delete while the retention period lasts."""
        self.execute(Command.RESTORE, now=now, actor=actor, reason=reason)

    def update_profile(
        self,
        *,
        now: datetime,
        actor: str,
        reason: str | None = None,
        correlation_id: str | None = None,
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
        changed = {k: val for k, val in changes.items() if not json_equal(getattr(self, k), val)}
        if changed:
            self._record(self.ProfileUpdated, now, actor, reason, correlation_id, changes=changed)

    # ---- sweeps -------------------------------------------------------------------------

    def expire_trial(
        self, *, now: datetime, actor: str, grace_days: int, correlation_id: str | None = None
    ) -> None:
        """The trial ended unpaid: the tenant enters ``grace``."""
        if not self.is_trial_due(now):
            msg = f"trial of {self.id} is not due ({self.status.value})"
            raise NotDue(msg)
        ends = local_midnight_after(now, self.timezone, grace_days)
        self._record(self.TrialExpired, now, actor, None, correlation_id, grace_ends_at=ends)

    def expire_grace(self, *, now: datetime, actor: str, correlation_id: str | None = None) -> None:
        """Grace ran out unpaid: the tenant is ``paused``."""
        if not self.is_grace_due(now):
            msg = f"grace of {self.id} is not due ({self.status.value})"
            raise NotDue(msg)
        self._record(self.GraceExpired, now, actor, GRACE_EXPIRED_REASON, correlation_id)

    def purge(self, *, now: datetime, actor: str, correlation_id: str | None = None) -> None:
        """Retention is over: record the erasure (the store removes everything else)."""
        if not self.is_purge_due(now):
            msg = f"tenant {self.id} is not due for purge"
            raise NotDue(msg)
        self._record(self.Purged, now, actor, None, correlation_id, purged_at=now)


_PLAIN_EVENTS: dict[Command, type[Tenant.Event]] = {
    Command.ACTIVATE: Tenant.Activated,
    Command.PAUSE: Tenant.Paused,
    Command.CANCEL: Tenant.Cancelled,
    Command.REACTIVATE: Tenant.Reactivated,
    Command.RESTORE: Tenant.Restored,
}


def json_equal(a: object, b: object) -> bool:
    """Whether two JSON values are equal as JSON sees them: a boolean is never a number
    (Python's ``True == 1`` would hide a change from ``1`` to ``true``), at any depth."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


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
