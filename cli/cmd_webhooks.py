"""``webhooks dispatch``: the process that turns new events into webhook deliveries."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from cli.cmd_workers import require_services
from common.settings import get_settings
from webhooks.dispatcher import run_dispatcher


def register(subparsers: Any) -> None:
    webhooks = subparsers.add_parser("webhooks", help="webhook delivery (SPEC §10)")
    actions = webhooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    dispatch = actions.add_parser(
        "dispatch",
        help="follow the event feed and queue webhook deliveries for the workers",
        description="Follow the event feed (woken by every commit), create one delivery per "
        "matching endpoint and event, and wake the RQ delivery jobs. Several may run.",
    )
    dispatch.set_defaults(handler=cmd_dispatch)


def cmd_dispatch(args: argparse.Namespace) -> int:
    settings = get_settings()
    require_services(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if settings.webhooks_metrics_port is not None:
        from prometheus_client import start_http_server  # noqa: PLC0415

        start_http_server(settings.webhooks_metrics_port)
    run_dispatcher(settings, stop)
    # Everything it opened is closed: skip the interpreter's teardown (seconds of garbage
    # collection on a loaded host), so that `up` and Compose stop it promptly.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
