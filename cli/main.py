"""The ``tenant-registry`` command: one entry point for every process and chore."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

import psycopg
import pydantic
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import PersistenceError

import cli
from cli import local_services
from cli.errors import CliError
from common.logs import configure_logging

log = logging.getLogger("tenant_registry.cli")


#: Which module registers each command, so a process imports only what its command needs
#: (``project`` need not load FastAPI and RQ; every child of ``up`` starts faster). A test
#: checks this against what the modules really register.
COMMAND_MODULE = {
    "migrate": "cmd_core",
    "serve": "cmd_serve",
    "api-keys": "cmd_api_keys",
    "project": "cmd_projections",
    "projections": "cmd_projections",
    "worker": "cmd_workers",
    "scheduler": "cmd_workers",
    "sweep": "cmd_workers",
    "up": "cmd_up",
    "webhooks": "cmd_webhooks",
    "tenants": "cmd_tenants",
    "import": "cmd_import",
}


def command_modules(command: str | None = None) -> list[Any]:
    """The module of ``command``, or every ``cli.cmd_*`` module (each has ``register``)."""
    if command in COMMAND_MODULE:
        names = [COMMAND_MODULE[command]]
    else:
        names = sorted(
            m.name for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_")
        )
    return [importlib.import_module(f"cli.{name}") for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: for one ``command`` only, or (by default) for all of them."""
    parser = argparse.ArgumentParser(
        prog="tenant-registry",
        description="The Tenant Registry: tenants, their lifecycle and history.",
    )
    parser.add_argument("--version", action="version", version=f"tenant-registry {version()}")
    parser.add_argument("--log-level", default=os.environ.get("TENANT_REGISTRY_LOG_LEVEL", "INFO"))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules(command):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    first = arguments[0] if arguments else None
    parser = build_parser(first)
    args = parser.parse_args(arguments)
    configure_logging(args.log_level.upper())
    os.environ["TENANT_REGISTRY_LOG_LEVEL"] = args.log_level.upper()  # serve's spawned workers
    try:
        local_services.attach(args.command)
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
    except (psycopg.Error, PersistenceError) as exc:
        # Never a traceback: the likely cause in one line (a schema never migrated, mostly).
        log.debug("database error", exc_info=True)
        hint = " (run 'tenant-registry migrate' first)" if _undefined(exc) else ""
        return _fail(f"database error: {_first_line(exc)}{hint}")
    except CliError as exc:
        return _fail(str(exc))


def version() -> str:
    """This build's version, from the installed package's metadata."""
    try:
        return importlib.metadata.version("tenant-registry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _undefined(exc: BaseException) -> bool:
    causes = (exc, exc.__cause__, exc.__context__)
    return any(isinstance(c, psycopg.errors.UndefinedTable) for c in causes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fail(message: str) -> int:
    print(f"tenant-registry: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
