"""A fake clock that runs a step of the test the first time the code under test asks the time.

Commands and sweeps ask the clock exactly once between loading a tenant and deciding on it,
so this interleaves another writer deterministically at that point (no threads, no sleeps).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from common.clock import FrozenClock


class HookClock(FrozenClock):
    """A :class:`FrozenClock` whose first ``now()`` runs ``hook`` before answering."""

    def __init__(self, start: datetime, hook: Callable[[], object]) -> None:
        super().__init__(start)
        self._hook: Callable[[], object] | None = hook
        self.fired = False

    def now(self) -> datetime:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
            self.fired = True
        return super().now()
