"""``TenantRegistry``: the write side. Commands load a tenant, ask it, and save what it decided.

Reads of the current state for HTTP clients come from the read side; this application answers
commands, one tenant's history, the global feed, and the sweeps' per-tenant re-checks.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache
from eventsourcing.persistence import IntegrityError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from application.cause import Cause
from application.documents import tenant_json
from application.events import EventReader, RecordedEvent
from application.group_commit import GroupCommitter
from application.idempotency import Answer, Claim
from application.mapper import UpcastingMapper
from application.recorder import OriginatorPurged, Purge, Save, TenantRecorder
from common.clock import Clock, SystemClock
from common.settings import Settings
from common.transcoder import OrjsonTranscoder
from domain.errors import (
    ConcurrencyConflict,
    InvalidTransition,
    NotDue,
    SlugTaken,
    TenantGone,
    TenantNotFound,
    VersionMismatch,
)
from domain.lifecycle import Command, Sweep
from domain.slug_index import SlugIndex
from domain.tenant import Tenant

log = logging.getLogger(__name__)


def _replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply stored events to an aggregate (or to None, for the first one).

    The library's default projector asserts ``isinstance(event, CanMutateProtocol)`` per
    event: a runtime protocol check that costs more than decoding the event (half of the
    time of loading a tenant with 100 events after its snapshot).
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _clone(tenant: Tenant) -> Tenant:
    """A private copy for a command to mutate (faster than deepcopy: only metadata nests)."""
    clone = copy.copy(tenant)
    clone.__dict__["_pending_events"] = []
    if tenant.metadata:
        clone.__dict__["metadata"] = copy.deepcopy(tenant.metadata)
    return clone


MAX_ATTEMPTS = 12

Actor = str | Cause


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the tenant afterwards, and the position to wait for on reads.

    ``body`` is the answer stored for the request's idempotency claim, when it had one (so
    the first response and its replays are the same bytes)."""

    tenant: Tenant
    position: int
    changed: bool
    body: bytes | None = None


SweepOutcome = Literal["changed", "skipped"]


class TenantRegistry(Application[UUID]):
    """The event-sourced application that owns every tenant."""

    name = "TenantRegistry"
    is_snapshotting_enabled = True

    def __init__(
        self, settings: Settings, clock: Clock | None = None, *, create_table: bool = False
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        env = settings.eventsourcing_env(create_table=create_table)
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(TenantRecorder)
        env["MAPPER_TOPIC"] = get_topic(UpcastingMapper)  # the one upcasting path
        super().__init__(env)
        if not isinstance(self.recorder, TenantRecorder):
            msg = "the event store must use TenantRecorder"
            raise TypeError(msg)
        self.tenant_recorder: TenantRecorder = self.recorder
        #: Every save of this application goes through it (concurrent saves share a commit).
        self.committer = GroupCommitter(self.tenant_recorder)
        self.reader = EventReader(self.tenant_recorder, self.mapper)
        size = settings.aggregate_cache_size
        self._cache: LRUCache[UUID, Tenant] | None = LRUCache(size) if size > 0 else None

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    # ---- commands -------------------------------------------------------------------------

    def register(
        self,
        *,
        slug: object,
        name: object,
        actor: Actor,
        timezone: object = None,
        plan: object = None,
        contact_email: object = None,
        metadata: object = None,
        trial_days: object = None,
        reason: str | None = None,
        claim: Claim | None = None,
    ) -> CommandResult:
        """Register a new tenant in ``trial`` and claim its slug, atomically."""
        cause = Cause.of(actor)
        now = self.clock.now()
        tenant = Tenant.register(
            slug=slug,
            name=name,
            timezone=self.settings.default_timezone if timezone is None else timezone,
            plan="standard" if plan is None else plan,
            contact_email=contact_email,
            metadata={} if metadata is None else metadata,
            trial_days=self.settings.trial_days if trial_days is None else trial_days,
            now=now,
            actor=cause.actor,
            correlation_id=cause.correlation_id,
            reason=reason,
        )
        index = SlugIndex.claim(slug=tenant.slug, tenant_id=tenant.id, now=now)
        answer = self._answer(claim, tenant)
        try:
            position = self._save(tenant, index, answer=answer)
        except IntegrityError:
            raise SlugTaken(tenant.slug) from None
        return CommandResult(tenant, position, changed=True, body=_body(answer))

    def run(
        self,
        command: Command | str,
        tenant_id: UUID,
        *,
        actor: Actor,
        reason: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> CommandResult:
        """Run a lifecycle command (``Command.ACTIVATE``; its URL name is accepted too)."""
        chosen, cause, settings = Command(command), Cause.of(actor), self.settings

        def act(tenant: Tenant) -> None:
            tenant.execute(
                chosen,
                now=self.clock.now(),
                actor=cause.actor,
                reason=reason,
                correlation_id=cause.correlation_id,
                grace_days=settings.grace_days,
                retention_days=settings.retention_days,
            )

        return self._execute(tenant_id, act, expected_version=expected_version, claim=claim)

    def update_profile(
        self,
        tenant_id: UUID,
        changes: dict[str, Any],
        *,
        actor: Actor,
        reason: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> CommandResult:
        """Change profile fields (``name``, ``timezone``, ``plan``, ``contact_email``,
        ``metadata``); one event with only what really changes."""
        cause = Cause.of(actor)

        def act(tenant: Tenant) -> None:
            tenant.update_profile(
                now=self.clock.now(),
                actor=cause.actor,
                correlation_id=cause.correlation_id,
                reason=reason,
                **changes,
            )

        return self._execute(tenant_id, act, expected_version=expected_version, claim=claim)

    def record_answer(self, answer: Answer) -> bool:
        """Store the answer to a claimed request that the command refused; False if it may not
        be stored (its tenant was purged meanwhile, or the claim was taken over)."""
        try:
            self.committer.save(Save(answer=answer))
        except OriginatorPurged:
            return False
        return True

    # ---- sweeps (per-tenant re-check on the aggregate) -------------------------------------

    def expire_trial(self, tenant_id: UUID, *, actor: Actor = Sweep.TRIALS.actor) -> SweepOutcome:
        """Move a tenant whose trial has ended to ``grace``; skip it if it is not due."""
        return self.sweep_one(Sweep.TRIALS, tenant_id, actor=actor)

    def expire_grace(self, tenant_id: UUID, *, actor: Actor = Sweep.GRACE.actor) -> SweepOutcome:
        """Pause a tenant whose grace period has ended; skip it if it is not due."""
        return self.sweep_one(Sweep.GRACE, tenant_id, actor=actor)

    def purge(self, tenant_id: UUID, *, actor: Actor = Sweep.PURGE.actor) -> SweepOutcome:
        """Erase a soft-deleted tenant whose retention has passed, leaving a tombstone.

        The purge commits only if the tenant is still at the version it was decided on; if
        anything was written meanwhile (a restore), it looks again, and here leaves it alone.
        """
        return self.sweep_one(Sweep.PURGE, tenant_id, actor=actor)

    def sweep_one(self, sweep: Sweep, tenant_id: UUID, *, actor: Actor) -> SweepOutcome:
        """Re-check one tenant on its aggregate and save the sweep's transition if it is due."""
        cause = Cause.of(actor)
        for _ in range(MAX_ATTEMPTS):
            try:
                tenant = self._load(tenant_id, fresh=True)
                decided_on = tenant.version
                self._decide_sweep(sweep, tenant, cause)
            except (TenantNotFound, TenantGone, NotDue):
                return "skipped"
            purge = None
            if sweep is Sweep.PURGE:
                purge = Purge(tenant.id, SlugIndex.id_for(tenant.slug), self.clock.now())
            try:
                self._save(tenant, purge=purge, decided_on=decided_on)
            except IntegrityError:
                self._evict(tenant_id)
                continue
            except OriginatorPurged:
                self._evict(tenant_id)
                return "skipped"
            if purge is not None:
                self._evict(tenant_id)
            return "changed"
        raise ConcurrencyConflict(str(tenant_id))

    def check_sweep(self, sweep: Sweep, tenant_id: UUID) -> SweepOutcome:
        """What :meth:`sweep_one` would do (a dry run), decided by the aggregate; saves nothing."""
        try:
            tenant = self._load(tenant_id, fresh=True)
            self._decide_sweep(sweep, tenant, Cause(sweep.actor))
        except (TenantNotFound, TenantGone, NotDue):
            return "skipped"
        return "changed"

    def _decide_sweep(self, sweep: Sweep, tenant: Tenant, cause: Cause) -> None:
        now, correlation_id = self.clock.now(), cause.correlation_id
        if sweep is Sweep.TRIALS:
            tenant.expire_trial(
                now=now,
                actor=cause.actor,
                grace_days=self.settings.grace_days,
                correlation_id=correlation_id,
            )
        elif sweep is Sweep.GRACE:
            tenant.expire_grace(now=now, actor=cause.actor, correlation_id=correlation_id)
        else:
            tenant.purge(now=now, actor=cause.actor, correlation_id=correlation_id)

    def sweep_batch(
        self, sweep: Sweep | str, tenant_ids: Sequence[UUID], *, actor: Actor
    ) -> dict[UUID, SweepOutcome]:
        """Re-check many tenants on their aggregates; save every transition in ONE transaction.

        Saves hold the event table's EXCLUSIVE lock until they commit, so separate saves never
        share a WAL flush: a sweep of one tenant per transaction runs at the disk's flush rate.
        Here a page costs two reads and one commit. All or nothing: if any tenant changed or
        was purged meanwhile, ``IntegrityError`` or ``OriginatorPurged`` is raised, nothing is
        saved, and the caller sweeps the page one tenant at a time. Purges are never batched.
        """
        chosen, cause = Sweep(sweep), Cause.of(actor)
        if chosen is Sweep.PURGE:
            msg = "purges are swept one tenant at a time"
            raise ValueError(msg)
        outcomes: dict[UUID, SweepOutcome] = dict.fromkeys(tenant_ids, "skipped")
        due: list[Tenant] = []
        for tenant in self._load_many(tenant_ids):
            try:
                self._decide_sweep(chosen, tenant, cause)
            except NotDue:
                continue
            due.append(tenant)
        for tenant in due:
            self._evict(tenant.id)
        if due:
            self.save_batch(due)
            outcomes.update(dict.fromkeys((t.id for t in due), "changed"))
        return outcomes

    # ---- bulk loads ---------------------------------------------------------------------------

    def save_batch(self, aggregates: Sequence[Tenant | SlugIndex]) -> list[int]:
        """Save the pending events of many aggregates in one transaction (seeding, imports).

        The same store path as a command (table lock, tombstone check, one commit), with a
        snapshot of each tenant whose new events cross a snapshot interval. The aggregates
        were decided by the domain; nothing is re-checked here (a taken slug or version fails
        the whole batch with ``IntegrityError``). The cache is left alone.
        """
        stored: list[StoredEvent] = []
        snapshots: list[StoredEvent] = []
        for aggregate in aggregates:
            events = aggregate.collect_events()
            stored.extend(self.mapper.to_stored_event(e) for e in events)
            if isinstance(aggregate, Tenant) and self._snapshot_due(events):
                snapshots.append(self.mapper.to_stored_event(Tenant.Snapshot.take(aggregate)))
        if not stored:
            return []
        return self.committer.save(Save(events=stored, snapshots=snapshots))

    # ---- queries ----------------------------------------------------------------------------

    def get_tenant(self, tenant_id: UUID) -> Tenant:
        """The current state of a tenant from its events (the write model)."""
        return self._load(tenant_id, fresh=True)

    def history(self, tenant_id: UUID) -> list[RecordedEvent]:
        """The tenant's events in version order; 404 or 410 semantics as errors."""
        events = self.reader.history(tenant_id)
        if events and events[0].type != "TenantPurged":
            return events
        purged_at = self.tenant_recorder.purged_at(tenant_id)
        if purged_at is not None:
            raise TenantGone(tenant_id, purged_at)
        raise TenantNotFound(tenant_id)

    def feed(self, *, after: int, limit: int, types: Sequence[str] = ()) -> list[RecordedEvent]:
        """The global feed of tenant events after ``after``."""
        return self.reader.feed(after, limit, types)

    def head(self) -> int:
        """The position of the newest event in the store."""
        return self.reader.head()

    # ---- internals --------------------------------------------------------------------------

    def _execute(
        self,
        tenant_id: UUID,
        act: Callable[[Tenant], None],
        *,
        expected_version: int | None,
        claim: Claim | None,
    ) -> CommandResult:
        """Load, decide, save; retry on a lost race unless the caller pinned a version.

        A cached tenant may be stale. A stale write is caught by the store (the version is
        taken); a refusal or a no-op decided on a cached copy is confirmed on a fresh load. A
        no-op with an idempotency claim stores its answer only if the tenant is still at the
        version it was decided on (and not purged).
        """
        fresh = self._cache is None
        for attempt in range(MAX_ATTEMPTS):
            tenant = self._load(tenant_id, fresh=fresh)
            if expected_version is not None and tenant.version != expected_version:
                if not fresh:
                    fresh = True
                    continue
                raise VersionMismatch(expected_version, tenant.version)
            decided_on = tenant.version
            try:
                act(tenant)
            except InvalidTransition:
                if not fresh:
                    fresh = True
                    continue
                raise
            changed = bool(tenant.pending_events)
            if not changed and not fresh:
                fresh = True
                continue
            answer = self._answer(claim, tenant)
            try:
                if changed:
                    position = self._save(tenant, answer=answer)
                elif answer is not None:
                    self._save(tenant, answer=answer, decided_on=decided_on)
                    position = self.head()
                else:
                    position = self.head()
            except IntegrityError:
                self._evict(tenant_id)
                fresh = True
                if expected_version is not None:
                    current = self._load(tenant_id, fresh=True).version
                    raise VersionMismatch(expected_version, current) from None
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter
                continue
            except OriginatorPurged:
                self._evict(tenant_id)
                self._load(tenant_id, fresh=True)  # raises TenantGone
                raise
            return CommandResult(tenant, position, changed=changed, body=_body(answer))
        msg = f"too many concurrent changes to tenant {tenant_id}"
        raise ConcurrencyConflict(msg)

    @staticmethod
    def _answer(claim: Claim | None, tenant: Tenant) -> Answer | None:
        if claim is None:
            return None
        return Answer(claim, claim.success_status, tenant_json(tenant), tenant.id)

    def _load(self, tenant_id: UUID, *, fresh: bool) -> Tenant:
        if not fresh and self._cache is not None:
            with contextlib.suppress(KeyError):
                return _clone(self._cache.get(tenant_id))
        try:
            aggregate: Any = self.repository.get(tenant_id, projector_func=_replay)
        except AggregateNotFoundError:
            purged_at = self.tenant_recorder.purged_at(tenant_id)
            if purged_at is not None:
                raise TenantGone(tenant_id, purged_at) from None
            raise TenantNotFound(tenant_id) from None
        if not isinstance(aggregate, Tenant):
            raise TenantNotFound(tenant_id)
        if self._cache is not None:
            self._cache.put(tenant_id, _clone(aggregate))
        return aggregate

    def _load_many(self, tenant_ids: Sequence[UUID]) -> list[Tenant]:
        """Fresh tenants from the store in two statements; unknown and purged ones left out."""
        tenants = []
        for stored in self.tenant_recorder.select_current(tenant_ids).values():
            aggregate = _replay(None, (self.mapper.to_domain_event(s) for s in stored))
            if isinstance(aggregate, Tenant):
                tenants.append(aggregate)
        return tenants

    def _evict(self, tenant_id: UUID) -> None:
        if self._cache is not None:
            with contextlib.suppress(KeyError):
                self._cache.get(tenant_id, evict=True)

    def _save(
        self,
        tenant: Tenant,
        *others: Any,
        answer: Answer | None = None,
        purge: Purge | None = None,
        decided_on: int | None = None,
    ) -> int:
        """Write the pending events, a snapshot when one is due, the answer and the purge, in
        one transaction; ``decided_on``: the version the tenant must still be at."""
        own = tenant.collect_events()
        events = [*own, *(e for o in others for e in o.collect_events())]
        stored = [self.mapper.to_stored_event(e) for e in events]
        snapshots = []
        if purge is None and self._snapshot_due(own):
            snapshots.append(self.mapper.to_stored_event(Tenant.Snapshot.take(tenant)))
        expected = [] if decided_on is None else [(tenant.id, decided_on)]
        ids = self.committer.save(
            Save(stored, snapshots, expected=expected, purge=purge, answer=answer)
        )
        if self._cache is not None and purge is None and own:
            self._cache.put(tenant.id, _clone(tenant))
        return max(ids) if ids else self.head()

    def _snapshot_due(self, events: Sequence[Any]) -> bool:
        interval = self.settings.snapshot_interval
        return any(e.originator_version % interval == 0 for e in events)


def _body(answer: Answer | None) -> bytes | None:
    return None if answer is None else answer.body
