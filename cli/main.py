"""The ``tenant-registry`` command: one entry point for every process and chore."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

import psycopg
import pydantic
from eventsourcing.persistence import OperationalError as StoreOperationalError

import cli
from cli.errors import CliError
from common.logs import configure_logging

log = logging.getLogger("tenant_registry.cli")


def command_modules() -> list[Any]:
    """Every ``cli.cmd_*`` module; each adds its subcommands with ``register(subparsers)``."""
    names = sorted(m.name for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_"))
    return [importlib.import_module(f"cli.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenant-registry",
        description="The Tenant Registry: tenants, their lifecycle and history.",
    )
    parser.add_argument("--log-level", default=os.environ.get("TENANT_REGISTRY_LOG_LEVEL", "INFO"))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level.upper())
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except pydantic.ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return _fail(f"invalid configuration: {details}")
    except (psycopg.OperationalError, StoreOperationalError) as exc:
        return _fail(f"cannot reach PostgreSQL: {_first_line(exc)}")
    except CliError as exc:
        return _fail(str(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fail(message: str) -> int:
    print(f"tenant-registry: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
