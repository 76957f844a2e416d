"""An import of a source table by several processes, one share of the rows each.

Checking rows and encoding events is Python work, bound to one core per process; the shares
of :class:`~application.import_sources.TableSource` let ``n`` processes import side by side
(saves still serialise on the event table's lock, as every writer's do). Rows sharing a slug
fall in the same share, so the first-created one still claims it. Each process reports its
progress and refusals to this one, which merges them. A share process whose parent has gone
(killed) stops after the batch it is saving: a rerun resumes as after any kill.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from queue import Empty
from typing import Any

from application.cause import new_correlation_id
from application.import_sources import TableSource
from application.importer import MAX_LISTED_REFUSALS, Importer, Refusal, Summary
from application.registry import TenantRegistry
from common.settings import Settings


class ImportFailed(Exception):
    """A share process stopped with an error (the message is its first line)."""


@dataclass(frozen=True)
class ShareJob:
    """What one share process imports."""

    settings: Settings
    url: str
    table: str
    mapping: dict[str, str]
    part: tuple[int, int]
    batch_size: int
    dry_run: bool
    parent: int
    correlation_id: str


def merge(summaries: Iterable[Summary]) -> Summary:
    """One summary of several shares."""
    total = Summary()
    for s in summaries:
        total.dry_run = s.dry_run
        total.read += s.read
        total.imported += s.imported
        total.already_present += s.already_present
        total.already_purged += s.already_purged
        total.due_for_purge += s.due_for_purge
        total.refused += s.refused
        total.refusals.extend(s.refusals[: MAX_LISTED_REFUSALS - len(total.refusals)])
        total.seconds = max(total.seconds, s.seconds)
    return total


def run_shares(
    settings: Settings,
    source: TableSource,
    *,
    workers: int,
    batch_size: int,
    dry_run: bool,
    on_batch: Callable[[Summary], None],
    on_refused: Callable[[Refusal], None],
) -> Summary:
    """Import ``source`` with ``workers`` processes; the merged summary."""
    context = multiprocessing.get_context("spawn")
    correlation_id = new_correlation_id()
    events: Any = context.Queue()
    processes = []
    for k in range(workers):
        job = ShareJob(
            settings, source.url, source.table_name, dict(source.mapping),
            (k, workers), batch_size, dry_run, os.getpid(), correlation_id,
        )  # fmt: skip
        process = context.Process(target=_share, args=(job, events), daemon=True)
        process.start()
        processes.append(process)
    latest: dict[int, Summary] = {}
    done: dict[int, Summary] = {}
    silent = 0
    try:
        while len(done) < workers:
            try:
                kind, k, payload = events.get(timeout=1.0)
            except Empty:
                dead = [i for i, p in enumerate(processes) if not p.is_alive() and i not in done]
                silent = silent + 1 if dead else 0
                if silent >= 3:
                    msg = "a share process died without a report"
                    raise ImportFailed(msg) from None
                continue
            if kind == "failed":
                raise ImportFailed(payload)
            if kind == "refused":
                on_refused(payload)
                continue
            latest[k] = payload
            if kind == "done":
                done[k] = payload
            on_batch(merge(latest.values()))
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    return merge(done[k] for k in sorted(done))


def _share(job: ShareJob, events: Any) -> None:
    """One share, in its own process."""
    k = job.part[0]
    registry = TenantRegistry(job.settings)

    def on_batch(summary: Summary) -> None:
        if os.getppid() != job.parent:  # the import was killed: end after this batch
            os._exit(1)
        events.put(("progress", k, replace(summary, refused=Counter(summary.refused), refusals=[])))

    try:
        importer = Importer(
            registry,
            dry_run=job.dry_run,
            on_batch=on_batch,
            on_refused=lambda refusal: events.put(("refused", k, refusal)),
            correlation_id=job.correlation_id,
        )
        source = TableSource(job.url, job.table, job.mapping, job.part)
        summary = importer.run(source.batches(job.batch_size))
        events.put(("done", k, summary))
    except BaseException as exc:  # reported to the parent, which fails the import
        lines = str(exc).strip().splitlines()
        events.put(("failed", k, lines[0] if lines else type(exc).__name__))
    finally:
        registry.close()
