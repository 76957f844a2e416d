"""``serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from cli.errors import CliError
from cli.probes import check_port_free
from common.metrics import prepare_multiprocess_dir, remove_multiprocess_dir
from common.settings import get_settings


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (1); each has its own pools"
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        msg = "--workers must be at least 1"
        raise CliError(msg)
    get_settings()  # refuse bad configuration before binding anything
    check_port_free(args.host, args.port)
    # Several workers: one metrics folder per run, so that one scrape sees them all.
    metrics_dir = prepare_multiprocess_dir(args.workers)
    try:
        _run(args)
    finally:
        remove_multiprocess_dir(metrics_dir)
    return 0


def _run(args: argparse.Namespace) -> None:
    # An import string and a factory: every worker process builds its own app (and pools)
    # after the fork. Nothing connects at start, so serve comes up while PostgreSQL is down.
    uvicorn.run(
        "api.app:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,  # keep our structured logging
        access_log=False,  # request lines carry query strings (search text): keep them out
        proxy_headers=False,
    )
