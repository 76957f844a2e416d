"""Group commit: saves that arrive together in one process share one transaction and one flush.

Every save takes the event table's lock and waits for its commit record to reach the disk, so
concurrent saves queue on the lock and pay one flush each. Here the first thread to arrive
leads: it takes every save queued so far (its own included) to the recorder as one
:meth:`~application.recorder.TenantRecorder.save_many`, hands each thread its own outcome, and
passes the lead to the first save that queued meanwhile. Each save still succeeds or fails on
its own (the recorder runs each in a subtransaction); positions still commit in order under
the lock, synchronously, so nothing acknowledged is lost and readers never skip.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from application.recorder import Save, TenantRecorder

#: Most saves one transaction carries (bounds the statement's size and the leader's wait).
MAX_GROUP = 64


@dataclass(eq=False)
class _Waiting:
    save: Save
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    outcome: list[int] | BaseException | None = None


class GroupCommitter:
    """Runs :meth:`save` calls of many threads as few transactions as possible."""

    def __init__(self, recorder: TenantRecorder, max_group: int = MAX_GROUP) -> None:
        self._recorder = recorder
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False
        #: Sizes of the groups committed so far (the largest, and how many), for tests/bench.
        self.largest_group = 0
        self.groups = 0

    def save(self, save: Save) -> list[int]:
        """Save with whatever else is waiting; return this save's positions or raise its error."""
        me = _Waiting(save)
        with self._lock:
            self._queue.append(me)
            if not self._leading:
                self._leading = me.lead = True
        while True:
            if me.lead:
                me.lead = False
                self._commit_next_group()
            me.done.wait()
            if me.lead:  # woken to lead the next group, and still waiting for its own save
                me.done.clear()
                continue
            break
        if isinstance(me.outcome, BaseException):
            raise me.outcome
        assert me.outcome is not None  # noqa: S101 - set before done
        return me.outcome

    def _commit_next_group(self) -> None:
        with self._lock:
            group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
        try:
            outcomes: Sequence[list[int] | BaseException] = self._recorder.save_many(
                [w.save for w in group]
            )
        except BaseException as exc:  # the whole statement failed: each save gets the error
            outcomes = [exc] * len(group)
        self.groups += 1
        self.largest_group = max(self.largest_group, len(group))
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()
            else:
                self._leading = False
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.outcome = outcome
            waiting.done.set()
