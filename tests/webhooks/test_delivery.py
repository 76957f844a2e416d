"""End to end: a dispatcher and real worker processes deliver to a local receiver."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator

import psutil
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from application.registry import TenantRegistry
from common.db import connect
from common.settings import Settings
from tests.webhooks.conftest import Start
from tests.webhooks.helpers import add_endpoint, deliveries, lifecycle
from tests.webhooks.receiver import Receiver
from tests.workers.helpers import stop_process, wait_until
from webhooks.service import WebhookService

DEADLINE = 60


def kill_with_work_horse(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its work horse (RQ starts the horse in a session of its own,
    so killing the worker's session would leave it running)."""
    horses = psutil.Process(worker.pid).children(recursive=True)
    assert horses, "the worker has no work horse: no delivery in progress"
    for process in [*horses, psutil.Process(worker.pid)]:
        process.send_signal(signal.SIGKILL)
    stop_process(worker, signal.SIGKILL)


@pytest.fixture
def registry(wsettings: Settings) -> Iterator[TenantRegistry]:
    app = TenantRegistry(wsettings)
    yield app
    app.close()


def test_every_event_is_delivered_once_in_order_and_signed(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    everything, cancellations = Receiver(), Receiver()
    everything.start()
    cancellations.start()
    try:
        all_types = add_endpoint(wsettings, everything.url)
        only_cancel = add_endpoint(wsettings, cancellations.url, ["TenantCancelled"])
        start("webhooks", "dispatch")
        start("worker")
        tenants = [lifecycle(registry, f"hooked-{n}") for n in range(5)]
        wait_until(lambda: len(everything.snapshot()) >= 20, DEADLINE)
        wait_until(lambda: len(cancellations.snapshot()) >= 5, DEADLINE)

        got = everything.snapshot()
        positions = [r.position for r in got]
        assert positions == sorted(positions)  # in position order while nothing fails
        assert len(set(positions)) == 20
        assert {r.document["data"]["tenant_id"] for r in got} == {str(t) for t in tenants}
        assert {r.document["type"] for r in cancellations.snapshot()} == {"TenantCancelled"}
        for request in got:
            document = Webhook(all_types.secret).verify(request.body, request.headers)
            assert document["data"]["version"] >= 1
        rows = deliveries(wsettings)
        assert len(rows) == 25
        assert {(r["status"], r["attempt"]) for r in rows} == {("delivered", 1)}
        assert only_cancel.id in {r["endpoint_id"] for r in rows}
    finally:
        everything.stop()
        cancellations.stop()


def test_rotation_sends_two_signatures_that_both_verify(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        endpoint = add_endpoint(wsettings, receiver.url, ["TenantRegistered"])
        with connect(wsettings) as conn:
            rotated = WebhookService(wsettings).rotate(conn, endpoint.id, registry.clock.now())
        assert rotated is not None
        start("webhooks", "dispatch")
        start("worker")
        registry.register(slug="rotating", name="Rotating Ltd", actor="test")
        wait_until(lambda: len(receiver.snapshot()) >= 1, DEADLINE)
        request = receiver.snapshot()[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (endpoint.secret, rotated.secret):
            Webhook(secret).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "B" * 43 + "=").verify(request.body, request.headers)
    finally:
        receiver.stop()


def test_a_500_then_200_gets_the_same_webhook_id_twice_and_nothing_else(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    receiver = Receiver(lambda _request, count: 500 if count == 0 else 200)
    receiver.start()
    try:
        add_endpoint(wsettings, receiver.url, ["TenantRegistered"])
        start("webhooks", "dispatch")
        start("worker")
        registry.register(slug="flaky-receiver", name="Flaky Ltd", actor="test")
        wait_until(lambda: [r["status"] for r in deliveries(wsettings)] == ["delivered"], DEADLINE)
        got = receiver.snapshot()
        assert len(got) == 2
        assert got[0].webhook_id == got[1].webhook_id
        assert got[0].body == got[1].body
        row = deliveries(wsettings)[0]
        assert (row["attempt"], row["http_status"]) == (2, 200)
    finally:
        receiver.stop()


def test_a_receiver_down_for_a_while_gets_everything_when_it_returns(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    receiver = Receiver()  # not started: connections are refused
    endpoint = add_endpoint(wsettings, receiver.url)
    start("webhooks", "dispatch")
    start("worker")
    lifecycle(registry, "patient")
    lifecycle(registry, "patient-too")

    def all_retried() -> bool:
        rows = deliveries(wsettings)
        return len(rows) == 8 and all(r["attempt"] >= 2 for r in rows)

    wait_until(all_retried, DEADLINE)
    assert {r["error"] for r in deliveries(wsettings)} == {"connection-refused"}
    receiver.start()
    try:
        wait_until(lambda: {r["status"] for r in deliveries(wsettings)} == {"delivered"}, DEADLINE)
        got = receiver.snapshot()
        assert sorted(r.position for r in got) == sorted(
            r["position"] for r in deliveries(wsettings)
        )
        assert len({r.webhook_id for r in got}) == 8
        assert all(r["endpoint_id"] == endpoint.id for r in deliveries(wsettings))
    finally:
        receiver.stop()


def test_a_worker_killed_mid_delivery_skips_nothing_and_repeats_the_same_id(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    hold = threading.Event()

    def respond(_request: object, count: int) -> int:
        if count == 1:  # the second delivery hangs until the test lets it go
            hold.wait(DEADLINE)
        return 200

    receiver = Receiver(respond)
    receiver.start()
    try:
        add_endpoint(wsettings, receiver.url)
        start("webhooks", "dispatch")
        worker = start("worker")
        lifecycle(registry, "interrupted")
        wait_until(lambda: len(receiver.snapshot()) >= 2, DEADLINE)
        kill_with_work_horse(worker)
        hold.set()
        start("worker")
        wait_until(lambda: {r["status"] for r in deliveries(wsettings)} == {"delivered"}, DEADLINE)
        wait_until(lambda: len(deliveries(wsettings)) == 4, DEADLINE)
        got = receiver.snapshot()
        counts = Counter(r.webhook_id for r in got)
        assert len(counts) == 4  # nothing skipped
        assert counts[got[1].webhook_id] == 2  # the interrupted one, again, same id
        assert sum(counts.values()) == 5
    finally:
        hold.set()
        receiver.stop()


def test_two_workers_deliver_nothing_twice(
    wsettings: Settings, registry: TenantRegistry, start: Start
) -> None:
    receivers = [Receiver(), Receiver()]
    for receiver in receivers:
        receiver.start()
    try:
        for receiver in receivers:
            add_endpoint(wsettings, receiver.url)
        start("webhooks", "dispatch")
        start("webhooks", "dispatch")  # two dispatchers create nothing twice either
        start("worker")
        start("worker")
        for n in range(6):
            lifecycle(registry, f"busy-{n}")
        for receiver in receivers:
            wait_until(lambda r=receiver: len(r.snapshot()) >= 24, DEADLINE)
        wait_until(lambda: {r["status"] for r in deliveries(wsettings)} == {"delivered"}, DEADLINE)
        assert len(deliveries(wsettings)) == 48
        for receiver in receivers:
            ids = [r.webhook_id for r in receiver.snapshot()]
            assert len(ids) == len(set(ids)) == 24
    finally:
        for receiver in receivers:
            receiver.stop()
