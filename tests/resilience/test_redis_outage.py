"""Redis goes down under a running registry (SPEC §3 readiness, §8 "Redis down").

``serve``, ``project``, ``worker`` and ``scheduler`` run against a private Redis (append-only,
so a restart brings its data back, as a production restart would) with the trial sweep every
two seconds. Redis is killed for a few slots: commands, reads and the projector carry on,
``/readyz`` reports Redis down; the worker and scheduler wait. When it returns, the work of the
missed slots is done (by the sweep of the slot at hand: sweeps take everything due) and no
slot's sweep runs twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest

from application.registry import TenantRegistry
from domain.tenant import Status
from tests.resilience.checks import sweep_repeats
from tests.resilience.conftest import MakeStack, settings_for
from tests.resilience.seeding import finished_count, seed_due, sweep_jobs
from tests.resilience.stack import wait_until
from tests.support.private_redis import PrivateRedis
from tests.support.projector_status import projector_states
from workers.slots import slot_key

pytestmark = pytest.mark.resilience

DOWN_SECONDS = 6.0
CRON = "* * * * * */2"  # croniter: the 6th field is the seconds


def _statuses(registry: TenantRegistry, ids: list[UUID]) -> set[Status]:
    return {registry.get_tenant(i).status for i in ids}


def test_redis_outage_leaves_commands_and_reads_working_and_sweeps_resume(
    database: str, redis_server: PrivateRedis, make_stack: MakeStack
) -> None:
    settings = settings_for(database, redis_server.url)
    stack = make_stack(database, redis_server.url, TENANT_REGISTRY_SWEEP_TRIALS_CRON=CRON)
    secret = stack.create_key("ops")
    api = stack.serve()
    projector = stack.start("projector", "project")
    worker = stack.start("worker", "worker")
    scheduler = stack.start("scheduler", "scheduler")
    trials = finished_count(redis_server.url, settings.queue_name, "trials")
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {secret}"})
    registry = TenantRegistry(settings)
    try:
        before = seed_due(settings, trials=3).trials
        wait_until(lambda: _statuses(registry, before) == {Status.GRACE}, 60, "first sweeps")
        wait_until(lambda: trials() >= 2, 30, "two sweep slots")
        jobs_before = sweep_jobs(redis_server.url, settings.queue_name)
        assert jobs_before is not None
        slots_before = set(jobs_before.finished)

        redis_server.stop()
        down_at, down_wall = time.monotonic(), datetime.now(UTC)
        during = seed_due(settings, trials=3).trials  # due now, swept only when Redis is back
        _assert_commands_reads_and_projector_work(client)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text  # degraded: the API does not need Redis
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"] == {"ok": False, "detail": "unreachable"}
        time.sleep(max(0.0, down_at + DOWN_SECONDS - time.monotonic()))
        assert _statuses(registry, during) == {Status.TRIAL}
        assert worker.alive() and scheduler.alive()

        redis_server.start()
        up_at = time.monotonic()
        resumed = wait_until(lambda: _statuses(registry, during) == {Status.GRACE}, 60, "resume")
        done = trials()
        wait_until(lambda: trials() >= done + 2, 30, "two more slots")
        print(  # the figures of this scenario, for the report
            f"\n[redis outage] down={up_at - down_at:.1f}s "
            f"missed tenants swept {resumed:.1f}s after Redis returned"
        )
        assert client.get("/readyz").json()["status"] == "ready"
        codes = {p.name: stack.stop(p) for p in (worker, scheduler)}
        assert codes == {"worker": 0, "scheduler": 0}

        jobs = sweep_jobs(redis_server.url, settings.queue_name)
        assert jobs is not None
        assert slots_before <= set(jobs.finished)  # the append-only file kept them
        assert all(runs == 1 for runs in jobs.finished.values()), jobs.finished
        # A sweep in flight when Redis died may stay "started" until RQ's abandoned-job
        # handling (its work is done again by the next slot; sweeps are idempotent).
        assert [i for i in jobs.failed if i.startswith("sweep-")] == []
        print(f"[redis outage] sweep jobs left started: {jobs.started}")
        # After the outage, sweeps ran for newer slots only: none ran again.
        after = sorted(i for i in jobs.finished if i not in slots_before and "trials" in i)
        assert after and after[0] > max(i for i in slots_before if "trials" in i)
        assert after[-1] > f"sweep-trials-{slot_key(down_wall)}"
        last = max(i for i in slots_before if "trials" in i)
        print(f"[redis outage] last trial slot before: {last}, first after: {after[:3]}")
        for tenant in [*before, *during]:
            history = registry.history(tenant)
            assert [e.type for e in history] == ["TenantRegistered", "TenantTrialExpired"]
            assert history[-1].actor == "sweep:trials"
            assert sweep_repeats(history) == []
        assert projector_states(settings).get(projector.popen.pid) == "running"
    finally:
        registry.close()
        client.close()
    for name, output in stack.outputs().items():
        assert b"Traceback" not in output, (name, output[-3000:])
    assert b"Redis unreachable, retrying" in stack.outputs()["scheduler.log"]


def _assert_commands_reads_and_projector_work(client: httpx.Client) -> None:
    created = client.post("/v1/tenants", json={"slug": "no-redis", "name": "No Redis"})
    assert created.status_code == 201, created.text
    tenant = created.json()["id"]
    activated = client.post(f"/v1/tenants/{tenant}/activate", headers={"Idempotency-Key": "a"})
    assert activated.status_code == 200, activated.text
    position = activated.headers["x-event-position"]
    read = client.get(f"/v1/tenants/{tenant}", params={"min_position": position})
    assert read.status_code == 200, read.text  # the projector followed
    assert read.json()["status"] == "active"
    assert client.get("/v1/tenants", params={"q": "No Redis"}).json()["data"][0]["id"] == tenant
    assert client.get(f"/v1/tenants/{tenant}/events").status_code == 200
