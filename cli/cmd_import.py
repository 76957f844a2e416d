"""``import``: bring tenants in from an existing tenants table or JSON lines (SPEC §13)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from application.import_parallel import ImportFailed, run_shares
from application.import_sources import (
    ImportSourceError,
    JsonLinesSource,
    TableSource,
    parse_mapping,
)
from application.importer import DEFAULT_BATCH_SIZE, Importer, Refusal, Summary
from application.registry import TenantRegistry
from cli.errors import CliError
from common.settings import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import tenants from an existing tenants table (or JSON lines)",
        description="Record each row as one TenantImported event (actor 'import'). Safe to "
        "run again (rows already in the registry are skipped) and to stop at any time. "
        "Progress and refused rows go to standard error, a JSON summary to standard output.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source_url", metavar="URL", help="PostgreSQL URL")
    source.add_argument("--jsonl", type=Path, metavar="FILE", help="a JSON lines file")
    parser.add_argument("--table", default="tenants", help="source table (default: tenants)")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read FIELD from COLUMN (repeatable); usual names are matched by default",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check every row and report; write nothing"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per transaction"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for --from, each importing a share of the rows (default 1)",
    )
    parser.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= 50_000:
        msg = "--batch-size must be from 1 to 50000"
        raise CliError(msg)
    if not 1 <= args.workers <= 32 or (args.workers > 1 and args.jsonl is not None):
        msg = "--workers must be from 1 to 32, and more than 1 only with --from"
        raise CliError(msg)
    try:
        mapping = parse_mapping(args.map)
    except ImportSourceError as exc:
        raise CliError(str(exc)) from None
    source: TableSource | JsonLinesSource
    if args.jsonl is not None:
        source = JsonLinesSource(args.jsonl, mapping)
    else:
        source = TableSource(args.source_url, args.table, mapping)
    progress = _Progress(args.dry_run)
    try:
        summary = _run(args, source, progress)
    except (ImportSourceError, ImportFailed) as exc:
        raise CliError(str(exc)) from None
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()
        msg = f"import stopped, run it again to resume: {first[0] if first else exc!r}"
        raise CliError(msg) from None
    progress.done(summary)
    print(json.dumps({"source": source.describe, **summary.as_dict()}), flush=True)
    return 0


def _run(
    args: argparse.Namespace, source: TableSource | JsonLinesSource, progress: _Progress
) -> Summary:
    settings = get_settings()
    if isinstance(source, TableSource) and args.workers > 1:
        return run_shares(
            settings,
            source,
            workers=args.workers,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            on_batch=progress.batch,
            on_refused=progress.refused,
        )
    registry = TenantRegistry(settings)
    try:
        importer = Importer(
            registry, dry_run=args.dry_run, on_batch=progress.batch, on_refused=progress.refused
        )
        return importer.run(source.batches(args.batch_size))
    finally:
        registry.close()


class _Progress:
    """Progress on standard error: a line per batch (rewritten in place on a terminal)."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown_at = 0.0

    def batch(self, summary: Summary) -> None:
        now = time.monotonic()
        if self.tty and now - self.shown_at < 0.5:
            return
        self.shown_at = now
        rate = summary.read / max(now - self.started, 1e-9)
        verb = "would import" if self.dry_run else "imported"
        line = (
            f"import: {summary.read:,} read, {verb} {summary.imported:,}, already present "
            f"{summary.already_present:,}, refused {sum(summary.refused.values()):,} "
            f"({rate:,.0f} rows/s)"
        )
        print(f"\r{line}" if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)
        sys.stderr.flush()

    def refused(self, refusal: Refusal) -> None:
        which = f" (id {refusal.tenant_id})" if refusal.tenant_id else ""
        text = f"import: refused {refusal.where}{which}: {refusal.reason}: {refusal.detail}"
        print(f"\r{text}" if self.tty else text, file=sys.stderr, flush=True)

    def done(self, summary: Summary) -> None:
        if self.tty:
            print(file=sys.stderr)
        if summary.imported == 0 and not self.dry_run:
            print(
                f"import: nothing to import ({summary.already_present:,} already present, "
                f"{sum(summary.refused.values()):,} refused)",
                file=sys.stderr,
            )
        if summary.due_for_purge:
            print(
                f"import: {summary.due_for_purge:,} soft-deleted tenants are past retention; "
                "the next purge sweep erases them",
                file=sys.stderr,
            )
