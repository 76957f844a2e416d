"""HTTP scenarios: ``wrk`` against ``tenant-registry serve`` on the seeded database (SPEC §7)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.context import Context, Row
from bench.procs import Child, RssSampler, database_cpu_seconds
from bench.projecting import LandingLog
from bench.stats import percentile

LUA_DIR = Path(__file__).resolve().parent / "lua"
#: Uvicorn worker processes for the API (2 cores: one per core).
API_WORKERS = 2


def ensure_wrk(ctx: Context) -> str:
    """``wrk`` on PATH, installed from Debian if missing (the benchmark runs as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    ctx.say("installing wrk (apt-get install -y wrk)")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def run_wrk(
    ctx: Context,
    script: str,
    *,
    threads: int,
    connections: int,
    seconds: int,
    server: tuple[str, Child] | None = None,
) -> dict[str, Any]:
    """Run one wrk script against the API (or ``server``: base URL and process, e.g. the
    plain-CRUD peer); return the summary its ``done()`` printed."""
    if server is None:
        base_url = ctx.services.start_api(API_WORKERS)
        api = ctx.services.api
    else:
        base_url, api = server
    env = dict(os.environ)
    env.update(
        {
            "BENCH_API_KEY": ctx.services.api_key(),
            "BENCH_LUA_DIR": str(LUA_DIR),
            "BENCH_IDS": str(ctx.seeded_ids_file or ""),
        }
    )
    argv = [
        ensure_wrk(ctx),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_DIR / script),
        base_url,
    ]
    assert api is not None
    projector = ctx.services.projector
    cpu_before = api.cpu_seconds()
    db_before = database_cpu_seconds()
    projector_before = projector.cpu_seconds() if projector is not None else 0.0
    with RssSampler(api) as sampler:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    api_cpu = api.cpu_seconds() - cpu_before
    db_cpu = database_cpu_seconds() - db_before
    projector_cpu = (projector.cpu_seconds() - projector_before) if projector is not None else 0.0
    if server is None:
        ctx.api_peak_rss_mib = max(ctx.api_peak_rss_mib, sampler.peak_mib)
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        msg = f"wrk printed no summary:\n{out[-2000:]}"
        raise RuntimeError(msg)
    summary: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    summary["rate"] = summary["requests"] / (summary["duration_us"] / 1e6)
    per_request = 1000 / max(summary["requests"], 1)
    summary["api_cpu_ms_per_request"] = api_cpu * per_request
    # Where the rest of a request's CPU goes: PostgreSQL (every local server process) and
    # the registry's projector (idle while the peer runs).
    summary["db_cpu_ms_per_request"] = db_cpu * per_request
    summary["projector_cpu_ms_per_request"] = projector_cpu * per_request
    return summary


def _rows(
    ctx: Context,
    name: str,
    summary: dict[str, Any],
    *,
    rate_target: float | None,
    p99_target: float,
    anchor: str | None = None,
) -> None:
    errors = summary["non_2xx"] + summary["socket_errors"]
    note = (
        f"p50 {summary['p50_us'] / 1000:.1f} ms; {summary['requests']:,} requests; API CPU"
        f" {summary['api_cpu_ms_per_request']:.2f} ms/request; PostgreSQL"
        f" {summary['db_cpu_ms_per_request']:.2f} ms/request; projector"
        f" {summary['projector_cpu_ms_per_request']:.2f} ms/request"
    ) + (f"; {errors} errors/non-2xx" if errors else "")
    ctx.add(
        Row(
            f"{name}: throughput",
            summary["rate"],
            "req/s",
            target=rate_target,
            anchor=anchor,
            note=note,
            extra=summary,
        )
    )
    ctx.add(
        Row(
            f"{name}: p99 latency",
            summary["p99_us"] / 1000,
            "ms",
            target=p99_target,
            better="lower",
            note=note,
            extra=summary,
        )
    )


def _warm_up(ctx: Context, script: str) -> None:
    """Run ``script`` unmeasured first: right after the seed, the read table's pages are not in
    memory yet, and a p99 of the first seconds measures the disk, not a server in use (the
    1 M run of 2026-12-02 03:47: list p50 19 ms, p99 1,395 ms without it)."""
    run_wrk(ctx, script, threads=2, connections=8, seconds=ctx.size(8, 1))


def run_get(ctx: Context) -> None:
    """GET /v1/tenants/{id}, random ids of the seeded store."""
    ctx.services.caught_up()
    _warm_up(ctx, "get_tenant.lua")
    summary = run_wrk(ctx, "get_tenant.lua", threads=2, connections=8, seconds=ctx.size(15, 3))
    _rows(
        ctx,
        f"GET /v1/tenants/{{id}}, {ctx.seeded_tenants:,} tenants, 8 connections",
        summary,
        rate_target=2_000,
        p99_target=10,
    )


def run_list(ctx: Context) -> None:
    """GET /v1/tenants?status=…, following cursors up to 40 pages deep."""
    ctx.services.caught_up()
    _warm_up(ctx, "list_tenants.lua")
    summary = run_wrk(ctx, "list_tenants.lua", threads=2, connections=8, seconds=ctx.size(15, 3))
    _rows(
        ctx,
        f"GET /v1/tenants?status=…&cursor=…, {ctx.seeded_tenants:,} tenants",
        summary,
        rate_target=None,
        p99_target=25,
    )


def run_commands(ctx: Context) -> None:
    """Register + lifecycle commands over HTTP, 16 concurrent clients."""
    summary = run_wrk(ctx, "commands.lua", threads=16, connections=16, seconds=ctx.size(20, 3))
    _rows(
        ctx,
        "register + lifecycle over HTTP, 16 clients",
        summary,
        rate_target=1_000,
        p99_target=50,
        anchor="pgbench-8",
    )


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, key: str, body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.headers, response.read()


def run_min_position(ctx: Context) -> None:
    """A command, then at once a read with ``min_position``: its answer vs the row landing."""
    ctx.services.caught_up()
    base_url, key = ctx.services.start_api(API_WORKERS), ctx.services.api_key()
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    payload = json.dumps({"slug": f"minpos-{time.time_ns()}", "name": "Min Position"})
    _, _, body = _request(conn, "POST", "/v1/tenants", key, payload.encode())
    tenant_id = json.loads(body)["id"]
    waits: list[float] = []
    waited = 0
    with LandingLog(ctx.settings).running() as landing:
        deadline = time.monotonic() + ctx.size(60, 15)
        for n in range(ctx.size(300, 40)):
            if time.monotonic() > deadline:
                break
            command = "pause" if n % 2 == 0 else "activate"
            path = f"/v1/tenants/{tenant_id}"
            _, headers, _ = _request(conn, "POST", f"{path}/{command}", key, b"{}")
            position = int(headers["X-Event-Position"])
            sent = time.perf_counter()
            status, _, _ = _request(conn, "GET", f"{path}?min_position={position}", key)
            answered = time.perf_counter()
            if status != 200:
                continue
            landed = landing.landed_at(position)
            if landed is None:
                continue
            waited += landed > sent
            waits.append(answered - max(landed, sent))
    conn.close()
    ctx.add(
        Row(
            "min_position read: answer after the row landed, p99",
            percentile(waits, 99) * 1000,
            "ms",
            target=20,
            better="lower",
            note=f"p50 {percentile(waits, 50) * 1000:.1f} ms over {len(waits)} reads,"
            f" {waited} of which had to wait",
        )
    )


def run_api_memory(ctx: Context) -> None:
    """Peak RSS of the API (all uvicorn workers) seen during the HTTP scenarios."""
    if ctx.api_peak_rss_mib:
        ctx.add(
            Row(
                f"memory: peak RSS of the API ({API_WORKERS} workers, all processes)",
                ctx.api_peak_rss_mib,
                "MiB",
            )
        )
