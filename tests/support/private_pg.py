"""A private PostgreSQL server for tests that stop or restart the database.

The shared server on 5432 must never be stopped; tests that need a database to go away start
their own with ``initdb`` + ``pg_ctl`` in a temporary directory, on a free loopback port.
When the tests run as root, the server runs as the ``postgres`` OS user (PostgreSQL refuses
root).

    with PrivatePostgres() as pg:
        url = pg.url              # postgresql://postgres@127.0.0.1:<port>/postgres
        pg.restart()              # or pg.stop(); ...; pg.start()

or the ``private_pg`` fixture (``pytest_plugins = ["tests.support.private_pg"]`` or import it
into a conftest).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg
import pytest

from cli.embedded import package_folder


def _bindir() -> Path:
    """PostgreSQL's programs: the installed ones, else those the ``pgserver`` wheel ships."""
    if shutil.which("pg_config") is not None:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return pgserver_bindir()


def pg_tool(name: str) -> str:
    """The path of one of PostgreSQL's programs (``pg_dump``, ``pg_restore``, …)."""
    return str(_bindir() / name)


def pgserver_bindir() -> Path:
    """The ``bin`` folder of the PostgreSQL inside the ``pgserver`` wheel (``up`` embeds it)."""
    return package_folder("pgserver") / "pginstall" / "bin"


def _server_user(bindir: Path) -> str:
    """The OS user a root test run starts PostgreSQL as (PostgreSQL refuses root)."""
    with contextlib.suppress(KeyError):
        pwd.getpwnam("postgres")
        return "postgres"
    # No PostgreSQL installed: the user pgserver creates for its own servers, and read access
    # for it to the wheel's programs and libraries (as pgserver arranges for itself).
    from pgserver.utils import (  # noqa: PLC0415 - only on machines without PostgreSQL
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(bindir)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bindir, read | execute)
    ensure_folder_permissions(bindir.parent / "lib", read)
    return "pgserver"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One throwaway PostgreSQL cluster (trust auth, user ``postgres``, loopback only)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="tr-private-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = _server_user(self.bindir)
            self._as = ["runuser", "-u", user, "--"]
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._initdb()

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def _initdb(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.datadir),
            "-U", "postgres",
            "--auth=trust",
            "--no-sync",
            "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D", str(self.datadir),
            "-l", str(self.logfile),
            "-o", options,
            "-w", "-t", "30",
            "start",
        )  # fmt: skip
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` disconnects clients; ``immediate`` is a crash)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, optionally stay down for ``down_for`` seconds, start again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def cleanup(self) -> None:
        """Stop the server if it runs and remove its directory."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL server of this test's own."""
    with PrivatePostgres() as server:
        yield server
