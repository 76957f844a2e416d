"""The lifecycle as one table (SPEC §2.1): commands, sweeps, where each moves a tenant from.

The aggregate's guards, the ``allowed`` list of a refusal and the no-op rule all derive from
:data:`TRANSITIONS`; the API, the CLI and the workers name commands and sweeps by the enums
below. Strings appear only at the edges (URL segments, JSON), where ``Command("start-grace")``
turns one into a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    GRACE = "grace"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    """Where a tenant stands for the lifecycle: its status, or soft-deleted (still cancelled)."""

    TRIAL = "trial"
    ACTIVE = "active"
    GRACE = "grace"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DELETED = "deleted"


class Command(StrEnum):
    """Lifecycle commands, spelled as in the URLs, in the order ``allowed`` lists them."""

    ACTIVATE = "activate"
    START_GRACE = "start-grace"
    PAUSE = "pause"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    RESTORE = "restore"


class Sweep(StrEnum):
    """Scheduled transitions, named as the CLI and the jobs name them."""

    TRIALS = "trials"
    GRACE = "grace"
    PURGE = "purge"

    @property
    def actor(self) -> str:
        """Who the events of this sweep are recorded as (SPEC §2.1)."""
        return f"sweep:{self.value}"


@dataclass(frozen=True)
class Transition:
    """A command's row: the stages it moves a tenant from, the stage it leads to, and the
    stages where it is a no-op (its result is already the current state)."""

    sources: frozenset[Stage]
    target: Stage
    no_op_at: frozenset[Stage]


def _row(sources: set[Stage], target: Stage, *also_no_op: Stage) -> Transition:
    return Transition(frozenset(sources), target, frozenset({target, *also_no_op}))


S = Stage
#: The lifecycle of SPEC §2.1. ``restore`` has one more guard, on the clock: ``now`` must be
#: before ``purge_after`` (see ``Tenant.can``).
TRANSITIONS: dict[Command, Transition] = {
    Command.ACTIVATE: _row({S.TRIAL, S.GRACE, S.PAUSED}, S.ACTIVE),
    Command.START_GRACE: _row({S.ACTIVE}, S.GRACE),
    Command.PAUSE: _row({S.TRIAL, S.ACTIVE, S.GRACE}, S.PAUSED),
    # A deleted tenant is still cancelled: cancelling it again changes nothing.
    Command.CANCEL: _row({S.TRIAL, S.ACTIVE, S.GRACE, S.PAUSED}, S.CANCELLED, S.DELETED),
    Command.REACTIVATE: _row({S.CANCELLED}, S.ACTIVE),
    Command.DELETE: _row({S.CANCELLED}, S.DELETED),
    Command.RESTORE: _row({S.DELETED}, S.CANCELLED),
}

#: Sweeps: the stage a tenant must be in (and due, by its deadline) and where it goes.
SWEEPS: dict[Sweep, tuple[Stage, Stage | None]] = {
    Sweep.TRIALS: (S.TRIAL, S.GRACE),
    Sweep.GRACE: (S.GRACE, S.PAUSED),
    Sweep.PURGE: (S.DELETED, None),  # erased
}

#: Commands in the order the API lists them in ``allowed``.
COMMANDS: tuple[Command, ...] = tuple(Command)


def is_no_op(command: Command, stage: Stage) -> bool:
    """Whether ``command`` would leave a tenant at ``stage`` exactly where it is."""
    return stage in TRANSITIONS[command].no_op_at


def moves_from(command: Command, stage: Stage) -> bool:
    """Whether the table lets ``command`` move a tenant at ``stage`` (before clock guards)."""
    return stage in TRANSITIONS[command].sources
