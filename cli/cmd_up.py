"""``up``: the whole registry in one command (SPEC §6).

Starts the API, the projector, one worker and the scheduler as supervised children with one
combined log. Without ``DATABASE_URL`` / ``REDIS_URL`` it first starts embedded PostgreSQL and
Redis whose data live in the data folder (``./var``), so a second ``up`` finds everything again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from cli import datafolder, probes
from cli.embedded import EmbeddedPostgres, EmbeddedRedis
from cli.errors import CliError
from cli.logview import LogSink, SinkHandler
from cli.main import build_parser
from cli.supervisor import ChildSpec, StopFlag, Supervisor
from common.settings import Settings

#: Runs the CLI in a child; imports ``cli.main`` by name so it is not loaded twice (``-m``).
RUN_CLI = "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))"
#: How long ``up`` waits for ``/readyz`` before printing the banner anyway.
READY_TIMEOUT = 30.0


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="run everything (API, projector, worker, scheduler) in one command",
        description="Run the API, the projector, a worker and the scheduler with one combined "
        "log. Without DATABASE_URL/REDIS_URL, embedded PostgreSQL and Redis keep their data "
        "in --data-dir.",
    )
    up.add_argument("--data-dir", type=Path, default=Path("var"), help="default: ./var")
    up.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    up.set_defaults(handler=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    probes.check_port_free(args.host, args.port)
    try:
        held = datafolder.lock(data_dir)
    except datafolder.FolderInUse:
        msg = f"another 'tenant-registry up' is already running on {data_dir}"
        raise CliError(msg) from None
    with held:
        sink = LogSink()
        for name in ("redis", "api", "projector", "worker", "scheduler"):
            sink.register(name)  # one column width from the first line on
        # This process's own log records (migrations, embedding) join the readable log.
        logging.getLogger().handlers[:] = [SinkHandler(sink)]
        return Up(args, data_dir, sink).run()


def cli_argv(log_level: str) -> list[str]:
    """The command line that runs ``tenant-registry`` with this interpreter."""
    return [sys.executable, "-c", RUN_CLI, "--log-level", log_level]


def available_commands() -> set[str]:
    """The subcommands this build of the CLI has (other layers add theirs as modules)."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


class Up:
    """One run of ``up``: start, announce, supervise until a signal, stop everything."""

    def __init__(self, args: argparse.Namespace, data_dir: Path, sink: LogSink) -> None:
        self.args = args
        self.data_dir = data_dir
        self.sink = sink
        self.stopping = StopFlag()
        self.supervisors: list[Supervisor] = []  # start order; stopped in reverse
        self.postgres: EmbeddedPostgres | None = None
        self.env: dict[str, str] = {}
        self.commands = available_commands()
        probe = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        self.base_url = f"http://{probe}:{args.port}"
        self.started = time.monotonic()

    def _age(self) -> float:
        """Seconds since this process started (interpreter start included, where known)."""
        return probes.process_age() or time.monotonic() - self.started

    def say(self, text: str) -> None:
        self.sink.line("up", text)

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in _STOP_SIGNALS}
        try:
            self._start_services()
            if not self.stopping.is_set():
                self._migrate()
                key = self._ensure_key()
                # The API and the projector first: on two cores, four interpreters starting
                # at once would each take longer to come up than the API does alone.
                self._start_children(("api", "projector"))
                ready = self._wait_ready()
                self._start_children(("worker", "scheduler"))
                self._announce(ready, key)
            while not self.stopping.wait(0.2):
                self._tick()
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No logging here: the handler runs between two bytecodes of the main thread, which
        # may be inside the log's lock or a write to stdout (a deadlock, or a reentrant write).
        if self.stopping.is_set():  # a second Ctrl-C: no more waiting
            for supervisor in self.supervisors:
                supervisor.kill()
            return
        self.stopping.set(signal.Signals(signum).name)

    def _tick(self) -> None:
        for supervisor in self.supervisors:
            supervisor.tick()

    def _start_services(self) -> None:
        database_url = os.environ.get("DATABASE_URL", "")
        redis_url = os.environ.get("REDIS_URL", "")
        redis_server = None if redis_url else self._launch_redis()
        if database_url:
            self.say("using PostgreSQL at DATABASE_URL (no embedded server)")
            _warm_imports()
        else:
            database_url = self._start_postgres()
        if redis_server is not None:
            redis_url = self._await_redis(redis_server)
        else:
            self.say("using Redis at REDIS_URL (no embedded server)")
        self.env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}

    def _start_postgres(self) -> str:
        self.say("starting embedded PostgreSQL…")
        t0 = time.monotonic()
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
        # pg_ctl mostly waits: import the schema code meanwhile instead of after.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres") as pool:
            starting = pool.submit(self.postgres.start)
            _warm_imports()
            uri = starting.result()
        how = "already running, reused" if self.postgres.reused else "started"
        took = time.monotonic() - t0
        self.say(f"PostgreSQL {how} in {took:.1f} s (data in {self.postgres.pgdata})")
        return uri

    def _launch_redis(self) -> EmbeddedRedis:
        self.say("starting embedded Redis…")
        embedded = EmbeddedRedis(self.data_dir / "redis")
        supervisor = Supervisor([embedded.prepare()], self.sink)
        self.supervisors.append(supervisor)
        supervisor.start()
        return embedded

    def _await_redis(self, embedded: EmbeddedRedis) -> str:
        if not embedded.wait_ready():
            msg = "embedded Redis did not start (see its log above)"
            raise CliError(msg)
        self.say(f"Redis ready (data in {embedded.directory})")
        return embedded.url

    def _migrate(self) -> None:
        from cli.cmd_core import migrate_all  # noqa: PLC0415 - imports the whole write side

        t0 = time.monotonic()
        migrate_all(self._settings())
        self.say(f"database schema up to date ({time.monotonic() - t0:.1f} s)")

    def _settings(self) -> Settings:
        # The rest (TENANT_REGISTRY_*) comes from the environment, as in the children.
        return Settings(database_url=self.env["DATABASE_URL"], redis_url=self.env["REDIS_URL"])

    def _start_children(self, names: tuple[str, ...]) -> None:
        if self.stopping.is_set():
            return
        specs = [
            ChildSpec(name, [*cli_argv(self.args.log_level), *argv], env)
            for name, argv, env in self._child_commands()
            if name in names and (argv[0] in self.commands or self._missing(name, argv[0]))
        ]
        supervisor = Supervisor(specs, self.sink)
        self.supervisors.append(supervisor)
        self.say("starting " + ", ".join(spec.name for spec in specs) + "…")
        supervisor.start()

    def _child_commands(self) -> list[tuple[str, list[str], dict[str, str]]]:
        # RQ's cron reads the process's local time: give the scheduler the business zone.
        zone = self._settings().timezone
        api = ["serve", "--host", self.args.host, "--port", str(self.args.port)]
        return [
            ("api", api, self.env),
            ("projector", ["project"], self.env),
            ("worker", ["worker"], self.env),
            ("scheduler", ["scheduler"], {**self.env, "TZ": zone}),
        ]

    def _missing(self, name: str, command: str) -> bool:
        self.say(f"this build has no '{command}' command; not starting {name}")
        return False

    def _ensure_key(self) -> str | None:
        if self.postgres is None:
            # An external database: its keys are the operator's (and a revoke must hold).
            self.say("DATABASE_URL is set: no development key is made; create keys with")
            self.say("  tenant-registry api-keys create --name NAME --scopes admin")
            return None
        key = datafolder.read_key(self.data_dir)
        if key is None:
            return self._create_key()
        try:
            state = datafolder.key_state(self._settings(), key)
        except psycopg.Error as exc:
            self.say(f"could not check the development admin key: {exc}")
            return None
        if state == "revoked":
            self.say("the development admin key was revoked; not making another (create")
            self.say("  one with: tenant-registry api-keys create --name NAME --scopes admin)")
            return None
        if state == "unknown":
            self.say("the saved admin key is not in this database; creating a new one")
            return self._create_key()
        return key

    def _create_key(self) -> str | None:
        try:
            key = datafolder.create_key(self._settings())
        except (psycopg.Error, ValueError) as exc:
            self.say(f"could not create the development admin key: {exc}")
            return None
        path = datafolder.write_key(self.data_dir, key)
        self.say(f"created a development admin API key (saved in {path}, mode 0600)")
        return key

    def _wait_ready(self) -> bool:
        if "serve" not in self.commands:
            return False
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self._tick()
            if probes.answers_ok(f"{self.base_url}/readyz"):
                return True
            self.stopping.wait(0.1)
        if not self.stopping.is_set():
            self.say(f"the API is not ready after {READY_TIMEOUT:.0f} s (see the log above)")
        return False

    def _announce(self, ready: bool, key: str | None) -> None:
        if self.stopping.is_set():
            return
        rule = "─" * 64
        self.say(rule)
        if ready:
            self.say(f"Tenant Registry ready in {self._age():.1f} s")
        self.say(f"  API docs       {self.base_url}/docs")
        if key is not None:
            self.say(f"  admin API key  {key}")
            self.say(f'  try: curl -H "Authorization: Bearer {key}" {self.base_url}/v1/tenants')
        self.say("  stop with Ctrl-C")
        self.say(rule)

    def _shutdown(self) -> None:
        if self.stopping.reason:
            self.say(f"received {self.stopping.reason}; stopping (again to force)")
        self.stopping.set()
        if self.supervisors or self.postgres:
            self.say("stopping…")
        for supervisor in reversed(self.supervisors):
            supervisor.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.say("PostgreSQL stopped")
        self.say("stopped")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _warm_imports() -> None:
    """Load the schema and key code now (about a second of imports)."""
    import api.keys  # noqa: F401, PLC0415
    import cli.cmd_core  # noqa: F401, PLC0415
