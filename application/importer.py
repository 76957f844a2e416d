"""Import tenants from another system's rows, through the event store (SPEC §13).

Each good row becomes one ``TenantImported`` event (actor ``import``) and its slug claim, saved
a batch per transaction with :meth:`TenantRegistry.save_batch`: a kill loses at most the batch
in flight, and a rerun skips every id the store already holds, so the import is idempotent
and resumable. Rows come in creation order, so of rows sharing a slug the first created
claims it and the others are refused, in every run alike. A refused row stops nothing: if a
batch fails as a whole (someone claimed a slug meanwhile), its rows are saved one by one.

Reading and checking the next batch (Python) overlaps with saving the previous one (the
database) on a writer thread; at most two batches wait in between, so memory stays flat.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from queue import Queue
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.cause import new_correlation_id
from application.import_lookup import Known, StoreLookup
from application.import_sources import SourceRow, parse_id
from application.recorder import OriginatorPurged
from application.registry import TenantRegistry
from domain.errors import ValidationFailed
from domain.slug_derivation import derive_slug
from domain.slug_index import SlugIndex
from domain.tenant import Tenant

ACTOR = "import"
DEFAULT_BATCH_SIZE = 2_000
#: Refused rows listed in the summary (all of them are counted, and reported as they come).
MAX_LISTED_REFUSALS = 1_000


@dataclass(frozen=True)
class Refusal:
    """A row that was not imported, and why."""

    where: str
    tenant_id: str | None
    reason: str
    detail: str


@dataclass
class Summary:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool = False
    read: int = 0
    imported: int = 0
    already_present: int = 0
    already_purged: int = 0
    due_for_purge: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary of the command."""
        return {
            "dry_run": self.dry_run,
            "read": self.read,
            "imported": self.imported,
            "already_present": self.already_present,
            "already_purged": self.already_purged,
            "refused": sum(self.refused.values()),
            "refused_by_reason": dict(sorted(self.refused.items())),
            "due_for_purge": self.due_for_purge,
            "seconds": round(self.seconds, 3),
            "refused_rows": [r.__dict__ for r in self.refusals],
            "refused_rows_listed": len(self.refusals),
        }


@dataclass
class Candidate:
    """A row the domain accepted, waiting to be saved."""

    where: str
    tenant_id: UUID
    state: dict[str, Any]
    tenant: Tenant


class Importer:
    """Checks rows with the domain and saves the good ones, a batch per transaction."""

    def __init__(
        self,
        registry: TenantRegistry,
        *,
        dry_run: bool = False,
        on_batch: Callable[[Summary], None] = lambda _: None,
        on_refused: Callable[[Refusal], None] = lambda _: None,
        correlation_id: str | None = None,
    ) -> None:
        self.registry = registry
        #: Every event of this run records it (SPEC §11), shares of one import alike.
        self.correlation_id = correlation_id or new_correlation_id()
        self.dry_run = dry_run
        self.summary = Summary(dry_run=dry_run)
        self._on_batch = on_batch
        self._on_refused = on_refused
        self._lookup = StoreLookup(registry)
        # A dry run saves nothing, so the store cannot tell it which ids and slugs earlier
        # batches of the run would have taken: it remembers them (memory grows with the rows).
        self._dry_ids: set[UUID] = set()
        self._dry_slugs: dict[str, UUID] = {}
        self._refusals_lock = threading.Lock()  # both threads refuse rows

    def run(self, batches: Iterable[list[SourceRow]]) -> Summary:
        """Import every row of ``batches``; return the summary."""
        started = time.monotonic()
        queue: Queue[list[Candidate] | None] = Queue(maxsize=2)
        failure: list[BaseException] = []

        def writer() -> None:
            while (item := queue.get()) is not None:
                try:
                    if not failure:
                        self._store(item)
                        self._on_batch(self.summary)
                except BaseException as exc:  # re-raised by the reader below
                    failure.append(exc)

        thread = threading.Thread(target=writer, name="import-writer")
        thread.start()
        try:
            for batch in batches:
                if failure:
                    break
                queue.put(self._check(batch))
        finally:
            queue.put(None)
            thread.join()
            self.summary.seconds = time.monotonic() - started
        if failure:
            raise failure[0]
        return self.summary

    # ---- reading side: the domain checks each row --------------------------------------

    def _check(self, rows: list[SourceRow]) -> list[Candidate]:
        now = self.registry.clock.now()
        candidates: list[Candidate] = []
        ids: set[UUID] = set()
        slugs: set[str] = set()
        for row in rows:
            self.summary.read += 1
            candidate = self._candidate(row, now)
            if candidate is None:
                continue
            if candidate.tenant_id in ids:
                self._refuse(row.where, candidate.tenant_id, "duplicate-id", "id repeats")
            elif candidate.tenant.slug in slugs:
                detail = "an earlier-created row of this batch has the slug"
                self._refuse(row.where, candidate.tenant_id, "duplicate-slug", detail)
            else:
                ids.add(candidate.tenant_id)
                slugs.add(candidate.tenant.slug)
                candidates.append(candidate)
        return candidates

    def _candidate(self, row: SourceRow, now: datetime) -> Candidate | None:
        values = row.values
        if "_unreadable" in values:
            self._refuse(row.where, None, "unreadable", str(values["_unreadable"]))
            return None
        tenant_id = parse_id(values.get("id"))
        if tenant_id is None:
            self._refuse(row.where, None, "invalid-id", "must be a UUID")
            return None
        settings = self.registry.settings
        state = dict(values)
        if state.get("slug") is None:
            state["slug"] = derive_slug(state.get("name"), tenant_id)
        state.setdefault("timezone", None)
        if state["timezone"] is None:
            state["timezone"] = settings.default_timezone
        if state.get("plan") is None:
            state["plan"] = "standard"
        if state.get("metadata") is None:
            state["metadata"] = {}
        try:
            tenant = self._build(tenant_id, state, now)
        except ValidationFailed as exc:
            first = exc.errors[0].field
            self._refuse(row.where, tenant_id, f"invalid-{first}", str(exc))
            return None
        return Candidate(row.where, tenant_id, state, tenant)

    def _build(self, tenant_id: UUID, state: dict[str, Any], now: datetime) -> Tenant:
        settings = self.registry.settings
        return Tenant.import_state(
            tenant_id=tenant_id,
            state=state,
            now=now,
            actor=ACTOR,
            trial_days=settings.trial_days,
            grace_days=settings.grace_days,
            retention_days=settings.retention_days,
            correlation_id=self.correlation_id,
        )

    # ---- writing side: the store decides what is new ------------------------------------

    def _store(self, candidates: list[Candidate]) -> None:
        if not candidates:
            return
        known = self._known(candidates)
        fresh = [c for c in candidates if self._is_new(c, known)]
        if self.dry_run:
            for c in fresh:
                self._dry_ids.add(c.tenant_id)
                self._dry_slugs[c.tenant.slug] = c.tenant_id
            self._count_imported(fresh)
            return
        if not fresh:
            return
        claims = [self._claim(c) for c in fresh]
        try:
            self.registry.save_batch([*(c.tenant for c in fresh), *claims])
        except (IntegrityError, OriginatorPurged):
            # Someone wrote one of these ids or slugs meanwhile: one row at a time.
            for candidate in fresh:
                self._store_one(candidate)
            return
        self._count_imported(fresh)

    def _store_one(self, candidate: Candidate) -> None:
        now = self.registry.clock.now()
        try:
            tenant = self._build(candidate.tenant_id, candidate.state, now)
        except ValidationFailed:  # the clock moved past a limit: refused next run too
            self._refuse(candidate.where, candidate.tenant_id, "invalid", "changed meanwhile")
            return
        candidate.tenant = tenant
        try:
            self.registry.save_batch([tenant, self._claim(candidate)])
        except (IntegrityError, OriginatorPurged):
            known = self._known([candidate])
            if self._is_new(candidate, known):  # lost a race that has not committed yet
                self._refuse(candidate.where, candidate.tenant_id, "conflict", "retry later")
            return
        self._count_imported([candidate])

    def _known(self, candidates: list[Candidate]) -> Known:
        return self._lookup.known(
            [c.tenant_id for c in candidates], [c.tenant.slug for c in candidates]
        )

    def _is_new(self, candidate: Candidate, known: Known) -> bool:
        """Whether the row is to be saved; counts and reports it otherwise."""
        tenant_id, slug = candidate.tenant_id, candidate.tenant.slug
        if tenant_id in known.purged:
            self.summary.already_purged += 1
            return False
        if tenant_id in known.existing or tenant_id in self._dry_ids:
            self.summary.already_present += 1
            return False
        holder = known.holders.get(slug) or self._dry_slugs.get(slug)
        if holder is None:
            return True
        if holder in known.imported or slug in self._dry_slugs:
            reason, detail = "duplicate-slug", f"an earlier-created row ({holder}) has the slug"
        else:
            reason, detail = "slug-taken", f"tenant {holder} of the registry holds the slug"
        self._refuse(candidate.where, tenant_id, reason, detail)
        return False

    def _claim(self, candidate: Candidate) -> SlugIndex:
        tenant = candidate.tenant
        return SlugIndex.claim(slug=tenant.slug, tenant_id=tenant.id, now=self.registry.clock.now())

    def _count_imported(self, saved: list[Candidate]) -> None:
        now = self.registry.clock.now()
        self.summary.imported += len(saved)
        self.summary.due_for_purge += sum(1 for c in saved if c.tenant.is_purge_due(now))

    def _refuse(self, where: str, tenant_id: UUID | None, reason: str, detail: str) -> None:
        refusal = Refusal(where, None if tenant_id is None else str(tenant_id), reason, detail)
        with self._refusals_lock:
            self.summary.refused[reason] += 1
            if len(self.summary.refusals) < MAX_LISTED_REFUSALS:
                self.summary.refusals.append(refusal)
            self._on_refused(refusal)


def batched_rows(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    """``rows`` in lists of ``size`` (tests and in-memory sources)."""
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
