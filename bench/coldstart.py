"""``tenant-registry up`` from nothing to ``/readyz`` answering 200 (SPEC §7)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.context import Context, Row
from bench.procs import Child, cli_command, cli_env, free_port, wait_http


def _time_up(ctx: Context, name: str, env: dict[str, str], data_dir: Path) -> float:
    port = free_port()
    argv = cli_command("up", "--port", str(port), "--data-dir", str(data_dir))
    child = Child(name, argv, env, ctx.workdir)
    try:
        return wait_http(f"http://127.0.0.1:{port}/readyz", 120)
    except TimeoutError:
        msg = f"{name} not ready:\n{child.tail()}"
        raise RuntimeError(msg) from None
    finally:
        child.stop(timeout=30)


def run(ctx: Context) -> None:
    """With the scratch database and the machine's Redis, then embedded (first and second run)."""
    with tempfile.TemporaryDirectory(prefix="bench-up-") as tmp:
        seconds = _time_up(ctx, "up-external", cli_env(ctx.settings), Path(tmp) / "external")
        ctx.add(
            Row(
                "tenant-registry up, cold start to ready (DATABASE_URL/REDIS_URL set)",
                seconds,
                "s",
                target=10,
                better="lower",
            )
        )
        env = {
            k: v for k, v in cli_env(ctx.settings).items() if k not in ("DATABASE_URL", "REDIS_URL")
        }
        embedded = Path(tmp) / "embedded"
        first = _time_up(ctx, "up-embedded-1", env, embedded)
        time.sleep(0.5)
        second = _time_up(ctx, "up-embedded-2", env, embedded)
        ctx.add(
            Row(
                "tenant-registry up, embedded PostgreSQL + Redis, first start (empty folder)",
                first,
                "s",
                target=10,
                better="lower",
            )
        )
        ctx.add(
            Row(
                "tenant-registry up, embedded, second start (data folder exists)",
                second,
                "s",
                target=10,
                better="lower",
            )
        )
