"""PostgreSQL restarts under HTTP load (SPEC §3, §8).

A private PostgreSQL, ``serve`` and ``project`` as real processes, client threads walking
tenants through their lifecycle with idempotency keys, and a reader polling the read model and
the event store. In the middle the database is stopped (``pg_ctl stop -m fast``) and started
again; nothing else is restarted.
"""

from __future__ import annotations

import time
from uuid import UUID

import httpx
import pytest

from application.registry import TenantRegistry
from tests.resilience.checks import (
    projected_position,
    read_side_differences,
    store_counts,
)
from tests.resilience.conftest import MakeStack, settings_for
from tests.resilience.load import Attempt, Chain, Client, Reader, Walker, join_all, status_counts
from tests.resilience.stack import Stack, wait_until
from tests.support.private_pg import PrivatePostgres
from tests.support.projector_status import projector_states

pytestmark = pytest.mark.resilience

WALKERS = 4
LOAD_BEFORE_SECONDS = 3.0
DOWN_SECONDS = 3.0
LOAD_AFTER_SECONDS = 5.0
#: A request in flight when the database stops or starts may end either way.
EDGE_SECONDS = 0.5
LEAKS = (b"Traceback", b"psycopg", b"SELECT ", b"INSERT ", b'File "', b"tenantregistry_")


def _ok(a: Attempt) -> bool:
    return a.status is not None and 200 <= a.status < 300


def _unavailable(a: Attempt) -> bool:
    return (
        a.status == 503
        and a.content_type == "application/problem+json"
        and a.token == "unavailable"
        and not any(leak in a.body for leak in LEAKS)
    )


def test_database_restart_under_load_answers_503_then_recovers_losing_nothing(
    private_postgres: PrivatePostgres, make_stack: MakeStack
) -> None:
    settings = settings_for(private_postgres.url)
    stack = make_stack(private_postgres.url)
    stack.migrate()
    secret = stack.create_key("load")
    api = stack.serve()
    projector = stack.start("projector", "project")
    wait_until(lambda: projector_states(settings).get(projector.popen.pid) == "running", 30, "up")
    pids = {p.name: p.popen.pid for p in stack.processes}

    started = time.monotonic()
    deadline = started + LOAD_BEFORE_SECONDS + DOWN_SECONDS + LOAD_AFTER_SECONDS
    walkers = [
        Walker(f"w{i}", [api.url], secret, deadline=deadline, hard_deadline=deadline + 30,
               max_tenants=500)
        for i in range(WALKERS)
    ]  # fmt: skip
    for walker in walkers:
        walker.start()
    wait_until(lambda: any(c.tenant_id for w in walkers for c in w.chains), 30, "a tenant")
    known = next(c.tenant_id for w in walkers for c in w.chains if c.tenant_id)
    paths = [f"/v1/tenants/{known}", f"/v1/tenants/{known}/events", "/v1/tenants?limit=5"]
    reader = Reader("reader", api.url, secret, paths, deadline=deadline)
    reader.start()
    clients: list[Client] = [*walkers, reader]
    time.sleep(max(0.0, started + LOAD_BEFORE_SECONDS - time.monotonic()))

    down_at = time.monotonic()
    private_postgres.stop("fast")
    stopped_at = time.monotonic()
    # New clients keep arriving while the database is down (once the walkers' failures have
    # told the API: a request let in before that waits for the pool like those in flight).
    time.sleep(EDGE_SECONDS)
    arrivals = Reader("arrivals", api.url, secret, paths, deadline=stopped_at + DOWN_SECONDS)
    arrivals.run()
    # The database may answer from the moment it is started, before ``start`` returns (it
    # waits for readiness): the outage ends at ``starting_at``, the recovery is timed from
    # ``up_at``.
    starting_at = time.monotonic()
    private_postgres.start()
    up_at = time.monotonic()
    attempts = sorted([*join_all(clients), *arrivals.attempts], key=lambda a: a.started)

    _report(attempts, down_at, stopped_at, up_at)
    _assert_answers_during_outage(attempts, stopped_at, starting_at)
    # Recovered by itself: the same processes, every walk finished after the restart.
    assert {p.name: p.popen.pid for p in stack.processes if p.alive()} == pids
    assert any(_ok(a) for a in attempts if a.started > up_at + EDGE_SECONDS)
    chains = [c for w in walkers for c in w.chains]
    assert all(c.unfinished is None for c in chains), [c for c in chains if c.unfinished]
    _assert_nothing_lost_or_doubled(stack, api.url, secret, chains, attempts)
    for name, output in stack.outputs().items():
        assert b"Traceback" not in output, (name, output[-3000:])


def _report(attempts: list[Attempt], down_at: float, stopped_at: float, up_at: float) -> None:
    """The scenario's figures (shown with ``pytest -s``)."""
    in_flight = [a.ended - a.started for a in attempts if a.started < down_at < a.ended]
    first_after = min((a.ended for a in attempts if a.started >= up_at and _ok(a)), default=-1.0)
    print(  # the figures of this scenario, for the report
        f"\n[database restart] requests={len(attempts)} outcomes={dict(status_counts(attempts))}"
        f" outage={up_at - down_at:.2f}s (stop took {stopped_at - down_at:.2f}s)"
        f" first_2xx_after_start={first_after - up_at:.2f}s"
        f" longest_in_flight_at_stop={max(in_flight, default=0.0):.2f}s"
    )


def _assert_answers_during_outage(
    attempts: list[Attempt], stopped_at: float, starting_at: float
) -> None:
    """Meanwhile: 503 ``unavailable`` (problem+json, no leak); never a 500, a hang or another
    error. A retried command may meet its own earlier claim (409 in progress). Requests in
    flight when the database stops wait for the pool (up to its timeout) and end either way.
    A request answered 200 after the restart began is not an outage answer: on a busy machine
    one came back 200 while ``start`` was still waiting for readiness."""
    during = [a for a in attempts if stopped_at + EDGE_SECONDS < a.started < starting_at]
    answered = [a for a in during if a.ended < starting_at]
    assert answered, "no request was answered while the database was down"
    assert all(_unavailable(a) for a in answered), [
        (a.path, a.status, a.body[:200]) for a in answered if not _unavailable(a)
    ]
    unexpected = [
        a
        for a in attempts
        if not _ok(a) and not _unavailable(a) and a.token != "idempotency-key-in-progress"
    ]
    assert not unexpected, [(a.path, a.status, a.error, a.body[:300]) for a in unexpected]


def _assert_nothing_lost_or_doubled(
    stack: Stack, api_url: str, secret: str, chains: list[Chain], attempts: list[Attempt]
) -> None:
    settings = settings_for(stack.base_env["DATABASE_URL"])
    registry = TenantRegistry(settings)
    try:
        # Every acknowledged command is in the store, once, in order; nothing else is.
        for chain in chains:
            assert chain.tenant_id is not None
            history = registry.history(UUID(chain.tenant_id))
            assert [(e.type, e.version) for e in history] == chain.acknowledged, chain.slug

        # Sent again with its key afterwards, a command that got a 5xx (or nothing) is a
        # replay of its one effect: the store does not change.
        before = store_counts(settings)
        failed = [a for a in attempts if a.key and (a.status is None or a.status >= 500)]
        assert failed, "the outage should have failed some commands"
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        for a in failed:
            again = httpx.request(
                a.method, api_url + a.path, content=a.sent,
                headers={**headers, "Idempotency-Key": a.key},
            )  # fmt: skip
            assert again.status_code < 300, (a.step, again.status_code, again.text)
            assert again.headers.get("idempotent-replayed") == "true"
        assert store_counts(settings) == before

        # The projector caught up by itself; the read table equals a replay.
        wait_until(lambda: projected_position(settings) >= before.head, 30, "the projector")
        assert read_side_differences(settings, registry) == []
    finally:
        registry.close()
