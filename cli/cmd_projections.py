"""``project`` (the long-running projector) and ``projections rebuild|status``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import asdict
from types import FrameType
from typing import Any, TextIO

from prometheus_client import REGISTRY

from cli.errors import CliError
from common.db import connect
from common.metrics import serve_metrics
from common.settings import Settings, get_settings
from projections.batch import DEFAULT_BATCH_SIZE
from projections.metrics import ProjectionLagCollector
from projections.projector import Projector
from projections.queries import ReadModel
from projections.rebuild import REBUILD_BATCH_SIZE, RebuildRefused, rebuild
from projections.schema import live_generation


def register(subparsers: Any) -> None:
    project = subparsers.add_parser(
        "project", help="keep the tenants read table current (one active, others standby)"
    )
    project.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    project.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this process's Prometheus metrics on 127.0.0.1:PORT/metrics",
    )
    project.set_defaults(handler=cmd_project)
    projections = subparsers.add_parser("projections", help="inspect or rebuild projections")
    sub = projections.add_subparsers(dest="projections_command", metavar="ACTION", required=True)
    rebuild_p = sub.add_parser(
        "rebuild", help="rebuild the read table from every event (blue/green)"
    )
    rebuild_p.add_argument("--batch-size", type=int, default=REBUILD_BATCH_SIZE)
    rebuild_p.set_defaults(handler=cmd_rebuild)
    status = sub.add_parser("status", help="position, head, lag and state of each projection")
    status.add_argument("--json", action="store_true", help="JSON even on a terminal")
    status.set_defaults(handler=cmd_status)


def _require_schema(settings: Settings) -> None:
    """Fail fast (one line, no traceback) when PostgreSQL is down or not migrated."""
    with connect(settings) as conn:
        if live_generation(conn, settings) is None:
            msg = "the read side is not migrated; run `tenant-registry migrate` first"
            raise CliError(msg)


def cmd_project(args: argparse.Namespace) -> int:
    """Run the projector until SIGTERM/SIGINT."""
    settings = get_settings()
    _require_schema(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.metrics_port is not None:
        REGISTRY.register(ProjectionLagCollector(settings))
        serve_metrics(args.metrics_port)
    Projector(settings, batch_size=args.batch_size).run(stop)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the tenants read table and swap it in, showing progress on stderr."""
    settings = get_settings()
    _require_schema(settings)
    meter = ProgressLine(sys.stderr)
    try:
        result = rebuild(settings, batch_size=args.batch_size, progress=meter.update)
    except RebuildRefused as exc:
        raise CliError(str(exc)) from None
    meter.finish()
    rate = result.events / result.seconds if result.seconds > 0 else 0.0
    print(
        f"rebuilt tenants (generation {result.generation}): {result.events} events up to "
        f"position {result.position} in {result.seconds:.1f} s ({rate:,.0f} events/s)"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print each projection's status: a table on a terminal, JSON otherwise."""
    settings = get_settings()
    _require_schema(settings)
    model = ReadModel(settings)
    try:
        statuses = model.projections()
    finally:
        model.close()
    if args.json or not sys.stdout.isatty():
        print(json.dumps({"data": [asdict(s) for s in statuses]}))
        return 0
    header = ("NAME", "STATE", "POSITION", "HEAD", "LAG EVENTS", "LAG S", "LAST ERROR")
    rows = [
        (s.name, s.state, str(s.position), str(s.head), str(s.lag_events),
         f"{s.lag_seconds:.3f}", s.last_error or "-")
        for s in statuses
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


class ProgressLine:
    """A tqdm-like progress line on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, stream: TextIO, every: float = 2.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every if not self.tty else 0.2
        self.started = time.monotonic()
        self.last = 0.0
        self.line = ""

    def update(self, events: int, position: int, head: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        percent = min(100.0, 100.0 * position / head) if head else 100.0
        self.line = (
            f"rebuild: {percent:5.1f}% position {position:,}/{head:,} "
            f"{events:,} events {events / elapsed:,.0f} events/s {elapsed:.0f} s"
        )
        if self.tty:
            self.stream.write("\r" + self.line)
        else:
            self.stream.write(self.line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.line:
            self.stream.write("\n")
            self.stream.flush()
