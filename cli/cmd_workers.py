"""``worker``, ``scheduler`` and ``sweep``: the scheduled lifecycle and retention work."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any, cast

import psycopg

from cli.errors import CliError
from common.metrics import reexec_in_multiprocess_mode, serve_metrics
from common.settings import Settings, get_settings
from workers.connections import make_redis, redis_problem
from workers.jobs import run_named_sweep
from workers.scheduler import run_scheduler
from workers.slots import SWEEPS, SweepName, cron_for, is_valid_cron
from workers.sweeps import SweepAborted
from workers.worker import run_worker


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker", help="run the jobs of the queue (sweeps); keeps going through outages"
    )
    worker.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this process's Prometheus metrics on 127.0.0.1:PORT/metrics",
    )
    worker.set_defaults(handler=cmd_worker)
    scheduler = subparsers.add_parser(
        "scheduler", help="enqueue the sweeps on their schedule, in business time"
    )
    scheduler.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this process's Prometheus metrics on 127.0.0.1:PORT/metrics",
    )
    scheduler.set_defaults(handler=cmd_scheduler)
    sweep = subparsers.add_parser(
        "sweep",
        help="run one sweep now, in this process (the same code as the scheduled job)",
        description="Catch the read table up, then sweep every tenant due now "
        "(the clock's now: run under faketime to sweep as of another date).",
    )
    sweep.add_argument("name", choices=SWEEPS, help="which sweep")
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="re-check every candidate and report what would change; change nothing",
    )
    sweep.set_defaults(handler=cmd_sweep)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    _require_redis(settings)
    _require_postgres(settings)
    if args.metrics_port is not None:
        reexec_in_multiprocess_mode()  # jobs run in forked children: they write files
        serve_metrics(args.metrics_port)
    run_worker(settings, burst=args.burst)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = get_settings()
    for sweep in SWEEPS:
        if not is_valid_cron(cron_for(settings, sweep)):
            msg = f"invalid cron expression for the {sweep} sweep: {cron_for(settings, sweep)!r}"
            raise CliError(msg)
    _require_redis(settings)
    serve_metrics(args.metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    connection = make_redis(settings.redis_url)
    try:
        run_scheduler(settings, connection, stop)
    finally:
        connection.close()
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    settings = get_settings()
    _require_postgres(settings)
    sweep = cast(SweepName, args.name)
    try:
        counts = run_named_sweep(settings, sweep, dry_run=args.dry_run)
    except SweepAborted as exc:
        raise CliError(str(exc)) from None
    report = {"sweep": sweep, "dry_run": args.dry_run, **counts.as_dict()}
    print(json.dumps(report), flush=True)
    verb = "would change" if args.dry_run else "changed"
    print(
        f"sweep {sweep}{' (dry run)' if args.dry_run else ''}: examined {counts.examined}, "
        f"{verb} {counts.changed}, skipped {counts.skipped}, failed {counts.failed}",
        file=sys.stderr,
    )
    return 1 if counts.failed else 0


def require_services(settings: Settings) -> None:
    """Fail at start, in one line, when Redis or PostgreSQL is unreachable."""
    _require_redis(settings)
    _require_postgres(settings)


def _require_redis(settings: Settings) -> None:
    problem = redis_problem(settings.redis_url)
    if problem is not None:
        raise CliError(problem)


def _require_postgres(settings: Settings) -> None:
    """Fail at start, in one line, when the database is unreachable (later outages are retried)."""
    try:
        with psycopg.connect(settings.database_url, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()
        msg = f"cannot reach PostgreSQL: {first[0] if first else type(exc).__name__}"
        raise CliError(msg) from None
