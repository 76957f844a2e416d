"""``python -m bench``: run the scenarios, print one table, write JSON and markdown."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import (
    anchors,
    coldstart,
    commands,
    following,
    http,
    importing,
    loading,
    projecting,
    report,
    seeding,
    sweeping,
)
from bench.context import Context, Row
from bench.peer import compare as peer_compare
from bench.scratch import create_scratch, drop_scratch
from bench.services import Services
from common.settings import DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Context], None]
    help: str
    needs_seed: bool = False


def _anchors(ctx: Context) -> None:
    anchors.run_pgbench(ctx)
    anchors.run_eventsourcing_saves(ctx)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("anchors", _anchors, "pgbench 1/8 clients, eventsourcing save path and runner"),
    Scenario("commands", commands.run, "register + lifecycle, application layer, 1 thread"),
    Scenario("loading", loading.run, "load a tenant with 10,000 events"),
    Scenario("anchor-runner", anchors.run_projection_runner, "library ProjectionRunner", True),
    Scenario("catch-up", projecting.run_catch_up, "projector through the seeded store", True),
    Scenario("lag", projecting.run_lag, "projection lag under steady command load"),
    Scenario("min-position", http.run_min_position, "read-your-writes wait over HTTP"),
    Scenario("http-get", http.run_get, "GET /v1/tenants/{id} with wrk", True),
    Scenario("http-list", http.run_list, "GET /v1/tenants?status= with cursors, wrk", True),
    Scenario("http-commands", http.run_commands, "commands over HTTP, 16 clients, wrk"),
    Scenario("http-peer", peer_compare.run, "registry vs plain-CRUD peer, same wrk scripts", True),
    Scenario("sweep", sweeping.run, "sweep of 100,000 due trials"),
    Scenario("rebuild", projecting.run_rebuild, "blue/green rebuild of the read table", True),
    Scenario("up", coldstart.run, "tenant-registry up, cold start to ready"),
    Scenario(
        "following",
        following.run,
        "TenantDirectory bootstrap/get/commit->get, 500 streams, beside feed polling",
        True,
    ),
    Scenario("import", importing.run, "import 1,000,000 rows from a tenants table"),
)
NAMES = [s.name for s in SCENARIOS]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the SPEC §7 targets beside their anchors, in a scratch database.",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.help}" for s in SCENARIOS),
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--tenants", type=int, default=None, help="seed this many tenants (default 1,000,000)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--no-anchors", action="store_true", help="skip the anchors")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or NAMES
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if not args.no_anchors and "anchors" not in chosen:
        chosen.append("anchors")
    if not args.no_anchors and "catch-up" in chosen and "anchor-runner" not in chosen:
        chosen.append("anchor-runner")
    args.chosen = chosen
    return args


def run_all(ctx: Context, chosen: list[str]) -> None:
    """Each chosen scenario in the fixed order; a failure becomes a row, the rest go on."""
    seeded = False
    for scenario in SCENARIOS:
        if scenario.name not in chosen:
            continue
        try:
            if scenario.needs_seed and not seeded:
                with ctx.step("seed"):
                    seeding.run_seed(ctx)
                seeded = True
            with ctx.step(scenario.name):
                scenario.run(ctx)
        except Exception as exc:
            ctx.say(f"{scenario.name} FAILED: {exc}")
            traceback.print_exc(file=sys.stderr)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            ctx.add(Row(f"{scenario.name} (failed)", None, "", note=first[:200]))
    http.run_api_memory(ctx)


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Also when started in the background (SIGINT ignored): stop cleanly, children and
    # scratch database included.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_on_signal)
    admin_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    load_at_start = list(os.getloadavg())
    settings = create_scratch(admin_url, redis_url, queue=f"bench-{secrets.token_hex(4)}")
    workdir = Path(tempfile.mkdtemp(prefix="tr-bench-"))
    ctx = Context(
        settings=settings,
        admin_url=admin_url,
        quick=args.quick,
        tenants=args.tenants,
        workdir=workdir,
        services=Services(settings, workdir),
    )
    ctx.say(f"scratch database {settings.connection_params().get('dbname')}, logs in {workdir}")
    try:
        run_all(ctx, args.chosen)
    finally:
        ctx.services.stop()
        if args.keep:
            ctx.say(f"kept {settings.database_url}")
        else:
            drop_scratch(admin_url, settings)
    json_path, md_path = report.write(ctx, list(argv or sys.argv[1:]), load_at_start)
    print(report.markdown_table(ctx.rows))
    ctx.say(f"results: {json_path} and {md_path}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return (
        0 if all(r.figure is not None or r.scenario.startswith("anchor") for r in ctx.rows) else 1
    )
