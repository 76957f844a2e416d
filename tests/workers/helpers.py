"""Helpers of the worker tests: a private redis-server, CLI subprocesses, dumps."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
from redis import Redis

from cli import supervisor

# The private servers moved to tests/support/ (the resilience tests use them too).
from tests.support.private_pg import free_port, pg_tool
from tests.support.private_redis import PrivateRedis

__all__ = ["PrivateRedis", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("tenant-registry"))


def cli_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``tenant-registry`` subprocess for one test."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TENANT_REGISTRY_", "FAKETIME"))
    }
    env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_cli(
    *args: str, env: Mapping[str, str], faketime: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``tenant-registry ARGS`` to completion (under ``faketime OFFSET`` if given)."""
    prefix = ["faketime", faketime] if faketime else []
    return subprocess.run(
        [*prefix, CLI, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def start_cli(*args: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``tenant-registry ARGS`` in a session of its own (so its children die with it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [CLI, *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal the process's whole session and wait for the leader; return its exit code.

    A SIGKILL reaches its descendants too: RQ's work horse puts itself in a process group of
    its own, so killing the worker's group alone would leave a running job orphaned (a
    killed host loses both)."""
    descendants = supervisor.descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        if sig == signal.SIGKILL:
            _kill(descendants)
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        descendants += supervisor.descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _kill(descendants)
        return proc.wait(10)


def _kill(processes: list[psutil.Process]) -> None:
    supervisor.kill_all(processes)
    psutil.wait_procs(processes, timeout=10)


def wait_until(condition: object, timeout: float = 30, interval: float = 0.05) -> None:
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            msg = f"condition not met within {timeout} s"
            raise AssertionError(msg)
        time.sleep(interval)


def pg_dump(database_url: str) -> bytes:
    """A plain-text ``pg_dump`` of the whole database (schema and data)."""
    return subprocess.run(
        [pg_tool("pg_dump"), "--dbname", database_url],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def redis_dump(redis: Redis) -> bytes:
    """Every key and value of every type, raw and decoded (zlib, base64), as one blob."""
    client: Any = redis  # redis-py's return types are unions of every decoding mode
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "hash":
            values = [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == "list":
            values = list(client.lrange(key, 0, -1))
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [b for _, fields in client.xrange(key) for kv in fields.items() for b in kv]
        else:
            msg = f"unexpected Redis type {kind} for {key!r}"
            raise AssertionError(msg)
        parts.extend(form for value in values for form in _decodings(bytes(value)))
    return b"\n".join(parts)


def _decodings(value: bytes) -> Iterator[bytes]:
    """The value as stored, and as RQ may have encoded it (zlib, base64, both)."""
    yield value
    candidates = [value]
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(value, validate=True))
        yield candidates[-1]
    for candidate in candidates:
        with contextlib.suppress(zlib.error):
            yield zlib.decompress(candidate)
