"""Running one command under an ``Idempotency-Key``: claim, run, answer, or give the key up.

The edge hands in the request (:class:`IdempotentRequest`), the command to run with the claim,
and how a refusal reads (its status and body, which only the edge knows how to render). Which
outcomes are answers to replay and which release the key is decided here:

* a change or a no-op: the registry saves its answer with the events (or alone, for a no-op,
  at the version it was decided on);
* a refusal by the rules (409, 404, 410, 412): stored, unless its tenant was purged meanwhile;
* invalid input, a lost race, an infrastructure failure: nothing to replay, the key is free.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from application.idempotency import (
    Answer,
    Claim,
    ClaimLost,
    IdempotencyStore,
    IdempotentRequest,
    Replay,
)
from application.registry import CommandResult, TenantRegistry
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    TenantGone,
    ValidationFailed,
)

#: How an edge renders a refusal: its status code and body.
RenderRefusal = Callable[[DomainError], tuple[int, bytes]]


@dataclass(frozen=True)
class Replayed:
    """The stored first answer to the key, to send again."""

    replay: Replay


def run_idempotently(
    store: IdempotencyStore,
    registry: TenantRegistry,
    request: IdempotentRequest,
    command: Callable[[Claim], CommandResult],
    render_refusal: RenderRefusal,
) -> CommandResult | Replayed:
    """Run ``command`` at most once for ``request``; replay its answer to later ones."""
    claimed = store.claim(request)
    if isinstance(claimed, Replay):
        return Replayed(claimed)
    claim = claimed
    try:
        return command(claim)
    except ClaimLost:
        raise  # a retry owns the key now
    except (ValidationFailed, ConcurrencyConflict):
        _release(store, claim)
        raise
    except DomainError as exc:
        status, body = render_refusal(exc)
        try:
            about = None if isinstance(exc, TenantGone) else request.tenant_id
            registry.record_answer(Answer(claim, status, body, about))
        except ClaimLost:
            pass  # a retry took the key over and answers for it; this refusal still stands
        except Exception:
            _release(store, claim)
            raise
        raise
    except BaseException:
        _release(store, claim)
        raise


def _release(store: IdempotencyStore, claim: Claim) -> None:
    # Best effort: if the database is gone the lease expires on its own.
    with contextlib.suppress(Exception):
        store.release(claim)
