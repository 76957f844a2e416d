"""HTTP load for the resilience tests: clients that walk tenants through their lifecycle.

Each :class:`Walker` thread registers tenants one after another and runs a fixed chain of
commands on each, every command under an ``Idempotency-Key`` of its own. Like a careful real
client it retries a command that got no answer, a 5xx or ``idempotency-key-in-progress`` with
the *same* key, so every command takes effect at most once and, once acknowledged, is known to
have happened. Every attempt is recorded for the test to judge. Loops are bounded twice: by a
number of tenants and by a deadline (retries by a later, hard deadline).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

#: One step of a chain: (name, method, path suffix after /v1/tenants/{id}, expected event type).
Step = tuple[str, str, str, str]

#: A chain in which every command changes the tenant (so each 2xx must be exactly one event).
LIFECYCLE: tuple[Step, ...] = (
    ("update", "PATCH", "", "TenantProfileUpdated"),
    ("activate", "POST", "/activate", "TenantActivated"),
    ("pause", "POST", "/pause", "TenantPaused"),
    ("activate", "POST", "/activate", "TenantActivated"),
    ("start-grace", "POST", "/start-grace", "TenantGracePeriodStarted"),
    ("activate", "POST", "/activate", "TenantActivated"),
    ("cancel", "POST", "/cancel", "TenantCancelled"),
    ("reactivate", "POST", "/reactivate", "TenantReactivated"),
    ("cancel", "POST", "/cancel", "TenantCancelled"),
    ("delete", "DELETE", "", "TenantDeleted"),
    ("restore", "POST", "/restore", "TenantRestored"),
)
RETRY_PAUSE_SECONDS = 0.2


@dataclass(frozen=True)
class Attempt:
    """One HTTP request and what came back (``status`` None: no answer at all)."""

    step: str
    method: str
    path: str
    key: str
    sent: bytes
    started: float
    ended: float
    status: int | None
    content_type: str
    body: bytes
    replayed: bool
    error: str | None = None

    def problem(self) -> dict[str, Any]:
        """The problem document of an error response ({} if it is not one)."""
        try:
            document = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return document if isinstance(document, dict) else {}

    @property
    def token(self) -> str:
        """The problem token (last segment of ``type``), or ``""``."""
        return str(self.problem().get("type", "")).rsplit("/", 1)[-1]


@dataclass
class Chain:
    """One tenant's walk: the steps acknowledged with a 2xx, in order."""

    slug: str
    tenant_id: str | None = None
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (event type, version)
    unfinished: str | None = None  # the step that never got a 2xx before the hard deadline


def _retryable(status: int | None, body: bytes) -> bool:
    if status is None or status >= 500:
        return True
    return status == 409 and b"idempotency-key-in-progress" in body


class Walker(threading.Thread):
    """One client thread; see the module docstring."""

    def __init__(
        self,
        name: str,
        base_urls: list[str],
        secret: str,
        *,
        deadline: float,
        hard_deadline: float,
        max_tenants: int,
        steps: tuple[Step, ...] = LIFECYCLE,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.urls = itertools.cycle(base_urls)
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.deadline = deadline
        self.hard_deadline = hard_deadline
        self.max_tenants = max_tenants
        self.steps = steps
        self.metadata = metadata or {}
        self.attempts: list[Attempt] = []
        self.chains: list[Chain] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=15) as client:
                for number in range(self.max_tenants):
                    if time.monotonic() > self.deadline:
                        return
                    self._walk(client, f"{self.name}-{number}")
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.failure = exc

    def _walk(self, client: httpx.Client, slug: str) -> None:
        chain = Chain(slug)
        self.chains.append(chain)
        body = {"slug": slug, "name": f"Tenant {slug}", "metadata": self.metadata}
        created = self._command(
            client, chain, "register", method="POST", path="/v1/tenants", body=body
        )
        if created is None:
            return
        chain.tenant_id = str(orjson.loads(created.body)["id"])
        chain.acknowledged.append(("TenantRegistered", 1))
        for name, method, suffix, event in self.steps:
            payload = {"name": f"Renamed {slug}"} if name == "update" else {"reason": "load"}
            path = f"/v1/tenants/{chain.tenant_id}{suffix}"
            done = self._command(client, chain, name, method=method, path=path, body=payload)
            if done is None:
                return
            chain.acknowledged.append((event, int(orjson.loads(done.body)["version"])))

    def _command(
        self, client: httpx.Client, chain: Chain, step: str, *, method: str, path: str, body: Any
    ) -> Attempt | None:
        """Send until a final answer; the 2xx attempt, or None (refused or out of time)."""
        key = str(uuid.uuid4())
        content = orjson.dumps(body)
        while True:
            attempt = self._send(client, step, method=method, path=path, key=key, content=content)
            self.attempts.append(attempt)
            if attempt.status is not None and 200 <= attempt.status < 300:
                return attempt
            if (
                not _retryable(attempt.status, attempt.body)
                or time.monotonic() > self.hard_deadline
            ):
                chain.unfinished = step
                return None
            time.sleep(RETRY_PAUSE_SECONDS)

    def _send(
        self, client: httpx.Client, step: str, *, method: str, path: str, key: str, content: bytes
    ) -> Attempt:
        headers = {**self.headers, "Idempotency-Key": key, "Content-Type": "application/json"}
        url = next(self.urls) + path
        started = time.monotonic()
        try:
            response = client.request(method, url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(
                step, method, path, key, content, started, time.monotonic(), None, "", b"", False,
                type(exc).__name__,
            )  # fmt: skip
        return Attempt(
            step,
            method,
            path,
            key,
            content,
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            response.headers.get("idempotent-replayed") == "true",
        )


def status_counts(attempts: list[Attempt]) -> Counter[str]:
    """Attempts by outcome: ``2xx``, ``503 unavailable``, ``no answer (ReadTimeout)``, …"""
    counts: Counter[str] = Counter()
    for a in attempts:
        if a.status is None:
            counts[f"no answer ({a.error})"] += 1
        elif 200 <= a.status < 300:
            counts["2xx"] += 1
        else:
            counts[f"{a.status} {a.token}"] += 1
    return counts


class Reader(threading.Thread):
    """A client thread that reads ``paths`` in turn, with a short pause, until the deadline."""

    def __init__(
        self, name: str, base_url: str, secret: str, paths: list[str], *, deadline: float
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.paths = paths
        self.deadline = deadline
        self.hard_deadline = deadline
        self.attempts: list[Attempt] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=15, headers=self.headers) as client:
                for path in itertools.cycle(self.paths):
                    if time.monotonic() > self.deadline:
                        return
                    self.attempts.append(self._get(client, path))
                    time.sleep(0.05)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.failure = exc

    def _get(self, client: httpx.Client, path: str) -> Attempt:
        started = time.monotonic()
        try:
            response = client.get(self.base_url + path)
        except httpx.HTTPError as exc:
            return Attempt(
                "read", "GET", path, "", b"", started, time.monotonic(), None, "", b"", False,
                type(exc).__name__,
            )  # fmt: skip
        return Attempt(
            "read",
            "GET",
            path,
            "",
            b"",
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            False,
        )


Client = Walker | Reader


def join_all(clients: list[Client]) -> list[Attempt]:
    """Wait for started clients (they stop by themselves); every attempt, in start order."""
    for client in clients:
        client.join(timeout=max(0.0, client.hard_deadline - time.monotonic()) + 30)
        assert not client.is_alive(), f"{client.name} did not stop"
        if client.failure is not None:
            raise client.failure
    return sorted((a for c in clients for a in c.attempts), key=lambda a: a.started)
