"""``http-peer``: the registry beside the plain-CRUD peer, same ``wrk`` scripts, alternating.

Both systems serve the same tenants (the peer's table is a copy of the read table), with the
same number of uvicorn workers, under the same load: ``get_tenant.lua`` (2 threads, 8
connections) and ``commands.lua`` (16 connections). Each round runs a script against one system
then the other; the next round starts with the other system, so neither always gets the
quieter minute. The rows give the registry's figure with the peer's as its anchor: the ratio
column is registry / peer, the target the acceptance bound of issue 11 (throughput ≥ 1.0x /
0.9x the peer's, p99 ≤ 1.0x / 1.5x).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.context import Context, Row
from bench.http import API_WORKERS, run_wrk
from bench.peer.table import PEER_SCHEMA, load_peer_table
from bench.procs import Child, cli_env, free_port, wait_http

#: (label, script, wrk threads, connections, seconds full / quick, throughput and p99 bounds)
LOADS: tuple[tuple[str, str, int, int, tuple[int, int], float, float], ...] = (
    ("GET /v1/tenants/{id}, 8 connections", "get_tenant.lua", 2, 8, (15, 3), 1.0, 1.0),
    ("register + lifecycle, 16 connections", "commands.lua", 16, 16, (20, 3), 0.9, 1.5),
)


@contextmanager
def peer_server(ctx: Context) -> Iterator[tuple[str, Child]]:
    """The peer under uvicorn (``API_WORKERS`` workers) on a free port, stopped afterwards."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.peer.app:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(API_WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = cli_env(
        ctx.settings,
        PEER_DATABASE_URL=ctx.settings.database_url,
        PEER_SCHEMA=PEER_SCHEMA,
        PEER_API_KEY=ctx.services.api_key(),
    )
    child = Child("peer", argv, env, ctx.workdir)
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{base_url}/healthz", 60)
        except TimeoutError:
            msg = f"peer did not start:\n{child.tail()}"
            raise RuntimeError(msg) from None
        yield base_url, child
    finally:
        child.stop()


def _combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one system: requests over the total time, the mean of the rounds' p99s."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["duration_us"] for r in runs) / 1e6

    def per_request(key: str) -> float:
        weighted = float(sum(r[key] * r["requests"] for r in runs))
        return weighted / max(float(requests), 1.0)

    return {
        "rate": requests / seconds,
        "p99_ms": sum(r["p99_us"] for r in runs) / len(runs) / 1000,
        "p50_ms": sum(r["p50_us"] for r in runs) / len(runs) / 1000,
        "requests": requests,
        "errors": sum(r["non_2xx"] + r["socket_errors"] for r in runs),
        "cpu_ms": per_request("api_cpu_ms_per_request"),
        "db_cpu_ms": per_request("db_cpu_ms_per_request"),
        "projector_cpu_ms": per_request("projector_cpu_ms_per_request"),
        "rounds": runs,
    }


def _note(c: dict[str, Any]) -> str:
    note = (
        f"p50 {c['p50_ms']:.1f} ms; {c['requests']:,} requests in {len(c['rounds'])} rounds;"
        f" server CPU {c['cpu_ms']:.2f} ms/request; PostgreSQL {c['db_cpu_ms']:.2f}"
        f" ms/request; projector {c['projector_cpu_ms']:.2f} ms/request"
    )
    return note + (f"; {c['errors']} errors/non-2xx" if c["errors"] else "")


def run(ctx: Context) -> None:
    """Load the peer's table, then alternate the two systems under each wrk script."""
    ctx.services.caught_up()
    rows = load_peer_table(ctx.settings)
    ctx.say(f"peer table loaded: {rows:,} tenants")
    registry_server = ctx.services.start_api(API_WORKERS)
    assert ctx.services.api is not None
    registry = (registry_server, ctx.services.api)
    rounds = ctx.size(2, 1)
    with peer_server(ctx) as peer:
        # Warm both up (pools opened, code paths hot) before anything is counted.
        for server in (registry, peer):
            run_wrk(ctx, "get_tenant.lua", threads=2, connections=8, seconds=2, server=server)
        for label, script, threads, connections, seconds, rate_bound, p99_bound in LOADS:
            runs: dict[str, list[dict[str, Any]]] = {"registry": [], "peer": []}
            for n in range(rounds):
                order = [("registry", registry), ("peer", peer)]
                for name, server in order if n % 2 == 0 else reversed(order):
                    ctx.say(f"  {label}: {name}, round {n + 1}")
                    summary = run_wrk(
                        ctx,
                        script,
                        threads=threads,
                        connections=connections,
                        seconds=ctx.size(*seconds),
                        server=server,
                    )
                    runs[name].append(summary)
            _rows(
                ctx,
                label,
                ours=_combine(runs["registry"]),
                peer=_combine(runs["peer"]),
                rate_bound=rate_bound,
                p99_bound=p99_bound,
            )


def _rows(
    ctx: Context,
    label: str,
    *,
    ours: dict[str, Any],
    peer: dict[str, Any],
    rate_bound: float,
    p99_bound: float,
) -> None:
    key = "peer-get" if label.startswith("GET") else "peer-commands"
    ctx.anchors[key] = peer["rate"]
    ctx.anchors[f"{key}-p99"] = peer["p99_ms"]
    ctx.add(
        Row(
            f"peer (plain CRUD) {label}: throughput",
            peer["rate"],
            "req/s",
            note=_note(peer),
            extra=peer,
        )
    )
    ctx.add(
        Row(
            f"peer (plain CRUD) {label}: p99 latency",
            peer["p99_ms"],
            "ms",
            better="lower",
            note=_note(peer),
            extra=peer,
        )
    )
    ctx.add(
        Row(
            f"registry vs peer, {label}: throughput",
            ours["rate"],
            "req/s",
            target=rate_bound * peer["rate"],
            anchor=key,
            note=f"target {rate_bound:.1f}x the peer; " + _note(ours),
            extra=ours,
        )
    )
    ctx.add(
        Row(
            f"registry vs peer, {label}: p99 latency",
            ours["p99_ms"],
            "ms",
            target=p99_bound * peer["p99_ms"],
            better="lower",
            anchor=f"{key}-p99",
            note=f"target ≤ {p99_bound:.1f}x the peer's; " + _note(ours),
            extra=ours,
        )
    )
