"""Two of every process at once, under load (SPEC §4, §5, §8: no double work).

Two ``serve``, two ``project``, two ``worker`` and two ``scheduler`` processes share one
database and one Redis, with all three sweeps every two seconds. Tenants due for each sweep
are seeded in the past; clients walk new tenants through their lifecycle across both APIs and
race the sweeps with commands on the due ones. Afterwards: every acknowledged command is
stored once, no sweep transition happened twice, every purge happened once, one projector is
active and one waits, and the read table equals a replay of every aggregate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from uuid import UUID

import httpx
import orjson
import pytest

from application.registry import TenantRegistry
from common.settings import Settings
from domain.errors import TenantGone
from tests.resilience.checks import (
    projected_position,
    read_side_differences,
    store_counts,
    sweep_repeats,
)
from tests.resilience.conftest import MakeStack, settings_for
from tests.resilience.load import Attempt, Walker, join_all, status_counts
from tests.resilience.seeding import DueTenants, seed_due, sweep_jobs
from tests.resilience.stack import wait_until
from tests.support.private_redis import PrivateRedis
from tests.support.projector_status import projector_states

pytestmark = pytest.mark.resilience

LOAD_SECONDS = 20.0
WALKERS = 3
EVERY_2_SECONDS = "* * * * * */2"  # croniter: the 6th field is the seconds
#: Commands that race each sweep on its due tenants: all allowed whether the sweep won or not.
RACES = {"trials": "activate", "grace": "cancel", "purge": "restore"}


def test_two_of_each_process_under_load_do_no_double_work(
    database: str, redis_server: PrivateRedis, make_stack: MakeStack
) -> None:
    settings = settings_for(database, redis_server.url)
    due = seed_due(settings, trials=30, grace=20, purge=20)
    stack = make_stack(
        database,
        redis_server.url,
        TENANT_REGISTRY_SWEEP_TRIALS_CRON=EVERY_2_SECONDS,
        TENANT_REGISTRY_SWEEP_GRACE_CRON=EVERY_2_SECONDS,
        TENANT_REGISTRY_SWEEP_PURGE_CRON=EVERY_2_SECONDS,
    )
    secret = stack.create_key("load")
    apis = [stack.serve("api-1"), stack.serve("api-2")]
    projectors = [stack.start(f"projector-{n}", "project") for n in (1, 2)]
    for name in ("worker-1", "worker-2", "scheduler-1", "scheduler-2"):
        stack.start(name, name.split("-")[0])

    started = time.monotonic()
    deadline = started + LOAD_SECONDS
    urls = [api.url for api in apis]
    walkers = [
        Walker(f"w{i}", urls, secret, deadline=deadline, hard_deadline=deadline + 30,
               max_tenants=200)
        for i in range(WALKERS)
    ]  # fmt: skip
    for walker in walkers:
        walker.start()
    raced = _race_the_sweeps(urls, secret, due)
    attempts = join_all(list(walkers))

    # Let the sweeps finish what is due, then stop the schedulers and workers.
    wait_until(lambda: _nothing_due(settings, due), 60, "the sweeps to finish")
    for process in stack.processes:
        if process.name.startswith(("scheduler", "worker")):
            assert stack.stop(process) == 0, process.name
    head = store_counts(settings).head
    wait_until(lambda: projected_position(settings) >= head, 60, "the projectors")

    print(  # the figures of this scenario, for the report
        f"\n[two of each] requests={len(attempts) + len(raced)} "
        f"walkers={dict(status_counts(attempts))} races={dict(status_counts(raced))} "
        f"tenants={len(due.all) + sum(len(w.chains) for w in walkers)} events={head}"
    )
    assert all(a.status is not None and a.status < 300 for a in attempts), status_counts(attempts)
    assert all(a.status in (200, 409, 410) for a in raced), status_counts(raced)
    states = sorted(projector_states(settings).get(p.popen.pid, "gone") for p in projectors)
    assert states == ["running", "standby"]
    _assert_no_double_work(settings, walkers, raced, due)
    jobs = sweep_jobs(redis_server.url, settings.queue_name)
    assert jobs is not None
    doubled = {i: runs for i, runs in jobs.finished.items() if runs != 1}
    assert doubled == {}
    assert [i for i in jobs.failed if i.startswith("sweep-")] == []
    for name, output in stack.outputs().items():
        assert b"Traceback" not in output, (name, output[-3000:])


def _race_the_sweeps(urls: list[str], secret: str, due: DueTenants) -> list[Attempt]:
    """One command per due tenant, sent while the sweeps run, from a few threads."""
    targets = [
        (RACES[sweep], tenant)
        for sweep, ids in (("trials", due.trials), ("grace", due.grace), ("purge", due.purge))
        for tenant in ids[::2]  # half of them: the others are the sweeps' alone
    ]
    attempts: list[Attempt] = []
    lock = threading.Lock()

    def send(part: list[tuple[str, UUID]], url: str) -> None:
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for command, tenant in part:
                key = str(uuid.uuid4())
                path = f"/v1/tenants/{tenant}/{command}"
                begun = time.monotonic()
                response = client.post(path, content=b"{}", headers={"Idempotency-Key": key})
                attempt = Attempt(
                    command, "POST", path, key, b"{}", begun, time.monotonic(),
                    response.status_code, response.headers.get("content-type", ""),
                    response.content, False,
                )  # fmt: skip
                with lock:
                    attempts.append(attempt)

    threads = [
        threading.Thread(target=send, args=(targets[n::2], urls[n % len(urls)])) for n in (0, 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return attempts


def _nothing_due(settings: Settings, due: DueTenants) -> bool:
    """True once no seeded tenant is still waiting for its sweep (checked on the aggregates)."""
    registry = TenantRegistry(settings)
    try:
        for tenant in due.trials:
            if registry.get_tenant(tenant).status.value == "trial":
                return False
        for tenant in due.grace:
            if registry.get_tenant(tenant).status.value == "grace":
                return False
        for tenant in due.purge:
            try:
                if registry.get_tenant(tenant).deleted_at is not None:
                    return False
            except TenantGone:
                continue
        return True
    finally:
        registry.close()


def _assert_no_double_work(
    settings: Settings, walkers: list[Walker], raced: list[Attempt], due: DueTenants
) -> None:
    registry = TenantRegistry(settings)
    try:
        for chain in (c for w in walkers for c in w.chains):
            assert chain.tenant_id is not None and chain.unfinished is None, chain
            history = registry.history(UUID(chain.tenant_id))
            assert [(e.type, e.version) for e in history] == chain.acknowledged, chain.slug
        for attempt in (a for a in raced if a.status == 200):
            tenant = UUID(attempt.path.split("/")[3])
            version = orjson.loads(attempt.body)["version"]
            types = {e.version: e.type for e in registry.history(tenant)}
            assert version in types, (attempt.step, tenant)  # acknowledged, so stored
        purged = Counter(
            e.tenant_id for e in registry.feed(after=0, limit=10_000, types=["TenantPurged"])
        )
        assert all(count == 1 for count in purged.values()), purged
        restored = {
            UUID(a.path.split("/")[3]) for a in raced if a.step == "restore" and a.status == 200
        }
        assert set(due.purge) - restored == set(purged)  # each purged once; restored ones kept
        for tenant in [*due.trials, *due.grace]:
            assert sweep_repeats(registry.history(tenant)) == []
        assert read_side_differences(settings, registry) == []
    finally:
        registry.close()
