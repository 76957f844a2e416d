"""SPEC §7 rows for consumers (§9), beside the way a consumer follows the registry today.

- changes-feed bootstrap of the seeded tenants into a ``TenantDirectory``: time and memory;
- ``TenantDirectory.get``: time per call;
- commit → ``TenantDirectory.get`` sees it, p99;
- commit → stream client with 500 changes streams on one API process, p99;
- the anchor, in the same run: ``GET /v1/events`` polled every 100 ms, commit → seen, p99.

"Commit" is bracketed by the command's request: a latency is reported from the moment the
command was sent (an upper bound, the figure) and from its answer (a lower bound, in the note).
The consumers run in child processes (``bench.following_probes``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tenant_registry_client import TenantRegistryClient

from bench.context import Context, Row
from bench.services import head
from bench.stats import percentile

REPO = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.1
STREAMS = 500
Command = tuple[str, int, int, float, float]  # tenant id, version, position, sent, answered


class FeedPoller:
    """The anchor: a consumer polling the event feed every 100 ms, noting when it saw each
    position."""

    def __init__(self, url: str, key: str, after: int) -> None:
        self._client = TenantRegistryClient(url, key)
        self._after = after
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FeedPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            page = self._client.events_page(after=self._after, limit=500)
            now = time.time()
            for event in page.data:
                self.seen.setdefault(event.position, now)
            self._after = page.next_after
            if len(page.data) < 500:
                self._stop.wait(POLL_SECONDS)


def _probe(*args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.following_probes", *args]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)


def _result(child: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, _ = child.communicate(timeout=timeout)
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if child.returncode != 0 or line is None:
        msg = f"probe failed (exit {child.returncode})"
        raise RuntimeError(msg)
    document: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    return document


def _wait_file(path: Path, child: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            msg = f"probe not ready (exit {child.poll()})"
            raise RuntimeError(msg)
        time.sleep(0.1)
    return path.read_text().strip()


def _commands(
    client: TenantRegistryClient, ids: list[str], count: int, pace: float
) -> list[Command]:
    """Pause/activate the watched tenants in turn, ``pace`` seconds apart."""
    done: list[Command] = []
    for n in range(count):
        tenant_id = ids[n % len(ids)]
        sent = time.time()
        if (n // len(ids)) % 2 == 0:
            result = client.pause_tenant(tenant_id)
        else:
            result = client.activate_tenant(tenant_id)
        done.append((tenant_id, result.tenant.version, result.position, sent, time.time()))
        time.sleep(pace)
    return done


def _p99_ms(values: list[float]) -> float:
    return percentile(values, 99) * 1000


def run(ctx: Context) -> None:
    """The §9 rows (needs the seed)."""
    ctx.services.caught_up()
    url, key = ctx.services.start_api(1), ctx.services.api_key()
    count = ctx.size(300, 40)
    with TenantRegistryClient(url, key, timeout=60) as client:
        ids = [str(client.register_tenant(f"follow-{time.time_ns()}-{i}", "F").tenant.id)
               for i in range(5)]  # fmt: skip
        ready = ctx.workdir / "directory.ready"
        child = _probe("directory", url, key, str(ready), str(count * 0.06 + 15))
        _wait_file(ready, child, 1800)
        with FeedPoller(url, key, head(ctx.settings)) as poller:
            done = _commands(client, ids, count, 0.05)
            time.sleep(2)
        probe = _result(child, 120)
        _directory_rows(ctx, probe, done, poller.seen)
        _stream_rows(ctx, client, url, key, ids)


def _directory_rows(
    ctx: Context, probe: dict[str, Any], done: list[Command], polled: dict[int, float]
) -> None:
    tenants = int(probe["tenants"])
    scale = f"{tenants:,} tenants" + ("" if tenants >= 1_000_000 else " (target is for 1,000,000)")
    mib = probe["directory_bytes"] / 2**20
    seen = {int(position): at for position, at in probe["applied"].items()}
    upper = [seen[p] - sent for _, _, p, sent, _ in done if p in seen]
    lower = [seen[p] - answered for _, _, p, _, answered in done if p in seen]
    anchor = [polled[p] - sent for _, _, p, sent, _ in done if p in polled]
    anchor_name = "event feed polled every 100 ms, commit → seen p99"
    ctx.add(
        Row(
            f"directory bootstrap from the changes feed, {scale}",
            probe["bootstrap_seconds"],
            "s",
            target=30 if tenants >= 1_000_000 else None,
            better="lower",
            note=f"{tenants / max(probe['bootstrap_seconds'], 1e-9):,.0f} tenants/s",
        )
    )
    ctx.add(
        Row(
            f"directory memory, {scale}",
            mib,
            "MiB",
            target=1024 if tenants >= 1_000_000 else None,
            better="lower",
            note=f"RSS growth, {probe['directory_bytes'] / max(tenants, 1):,.0f} bytes/tenant; "
            f"live objects {probe['live_bytes'] / 2**20:,.1f} MiB "
            f"({probe['live_bytes'] / max(tenants, 1):,.0f} bytes/tenant)",
        )
    )
    ctx.add(Row("TenantDirectory.get", probe["get_ns"] / 1000, "µs", target=2, better="lower"))
    ctx.add(Row("commit → TenantDirectory.get sees it, p99", _p99_ms(upper), "ms", target=150,
                better="lower", anchor=anchor_name, anchor_figure=_p99_ms(anchor),
                note=f"from the command's answer: p99 {_p99_ms(lower):.1f} ms; "
                f"{len(upper)} of {len(done)} seen"))  # fmt: skip


def _stream_rows(
    ctx: Context, client: TenantRegistryClient, url: str, key: str, ids: list[str]
) -> None:
    count = ctx.size(60, 10)
    streams = ctx.size(STREAMS, 50)
    ready = ctx.workdir / "streams.ready"
    child = _probe("streams", url, key, str(streams), str(head(ctx.settings)), str(ready),
                   str(count * 0.1 + 20))  # fmt: skip
    connected = int(_wait_file(ready, child, 300))
    with FeedPoller(url, key, head(ctx.settings)) as poller:
        done = _commands(client, ids, count, 0.1)
        time.sleep(2)
    probe = _result(child, 300)
    arrivals = [dict(map(tuple, stream)) for stream in probe["arrivals"]]
    upper = [a[p] - sent for a in arrivals for _, _, p, sent, _ in done if p in a]
    lower = [a[p] - answered for a in arrivals for _, _, p, _, answered in done if p in a]
    anchor = [poller.seen[p] - sent for _, _, p, sent, _ in done if p in poller.seen]
    expected = len(done) * len(arrivals)
    ctx.add(Row(f"commit → stream client, {connected} streams on one API process, p99",
                _p99_ms(upper), "ms", target=100, better="lower",
                anchor="event feed polled every 100 ms, commit → seen p99",
                anchor_figure=_p99_ms(anchor),
                note=f"from the command's answer: p99 {_p99_ms(lower):.1f} ms; "
                f"{len(upper):,} of {expected:,} deliveries; "
                f"errors {probe['errors'] or 'none'}"))  # fmt: skip
