"""``tenant-registry up``: the whole registry in one command, embedded or on given servers."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.keys import ADMIN, KeyAdmin
from common.clock import SystemClock
from common.db import connect
from common.settings import Settings
from tests.cli.upctl import TENANT_REGISTRY, UpProcess, free_port, wait_all_gone
from tests.support.private_redis import PrivateRedis

pytestmark = pytest.mark.slow

CHILD_COMMANDS = ("serve", "project", "worker", "scheduler")


@pytest.fixture
def bare_env() -> dict[str, str]:
    """This environment without DATABASE_URL/REDIS_URL: ``up`` must embed both servers."""
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    """A Redis server of this test's own (the machine's Redis is shared)."""
    server = PrivateRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short path: the embedded servers' Unix sockets live in it.
    root = Path(tempfile.mkdtemp(prefix="tr-up-"))
    yield root / "var"
    shutil.rmtree(root, ignore_errors=True)


def _register(client: httpx.Client, slug: str) -> tuple[str, int]:
    response = client.post("/v1/tenants", json={"slug": slug, "name": f"{slug} Ltd"})
    assert response.status_code == 201, response.text
    return response.json()["id"], int(response.headers["X-Event-Position"])


def _listed_slugs(client: httpx.Client, min_position: int) -> set[str]:
    response = client.get("/v1/tenants", params={"min_position": min_position, "limit": 200})
    assert response.status_code == 200, response.text
    return {tenant["slug"] for tenant in response.json()["data"]}


def _running(commands: list[list[str]], name: str) -> bool:
    return any(name in argv for argv in commands)


def test_up_without_urls_runs_the_registry_on_embedded_servers_and_finds_it_after_a_stop(
    data_dir: Path, bare_env: dict[str, str]
) -> None:
    with UpProcess(data_dir, bare_env) as up:
        key = up.wait_ready()
        with up.client(key) as client:
            acme, _ = _register(client, "acme")
            _, position = _register(client, "globex")
            assert _listed_slugs(client, position) == {"acme", "globex"}
            projections = client.get("/v1/projections").json()["data"]
        assert {p["name"]: p["state"] for p in projections}["tenants"] == "running"
        up.wait_for_line(re.compile(r"^scheduler \|"))
        commands = up.commands()
        for command in CHILD_COMMANDS:
            assert _running(commands, command), f"no {command} process in {commands}"
        assert any("redis-server" in " ".join(argv) for argv in commands)
        assert "starting embedded PostgreSQL" in up.log
        # Every line is readable text, up's own records (the pg_trgm warning) included.
        assert not [line for line in up.lines if line.partition("|")[2].strip().startswith("{")]
        trgm = [line for line in up.lines if "pg_trgm is not available" in line]
        assert trgm and all(line.startswith("up ") and "WARN" in line for line in trgm), trgm
        _second_up_is_refused(data_dir, bare_env)
        assert f"{up.base_url}/docs" in up.log
        key_file = data_dir / "admin-api-key"
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        postmaster = up.postmaster_pid()
        assert postmaster is not None
        everything = [p.pid for p in up.descendants()] + [postmaster]
        assert up.stop() == 0  # generous: two loaded cores stop five processes and a server
        assert wait_all_gone(everything, timeout=30) == []

    with UpProcess(data_dir, bare_env) as again:
        assert again.wait_ready() == key
        assert "created a development admin API key" not in again.log
        with again.client(key) as client:
            response = client.get(f"/v1/tenants/{acme}")
            assert response.status_code == 200, response.text
            assert response.json()["slug"] == "acme"
            assert _listed_slugs(client, 0) == {"acme", "globex"}
        assert again.stop() == 0


def test_up_with_urls_uses_them_embeds_nothing_and_makes_no_admin_key(
    tmp_path: Path, database_url: str, private_redis_url: str
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": private_redis_url}
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "admin-api-key").write_text("0000000000000000.from-another-database\n")
    with psycopg.connect(database_url) as conn:
        keys_before = _key_names(conn)
    with UpProcess(data_dir, env) as up:
        up.wait_for_line(re.compile(r"Tenant Registry ready"))
        assert "admin API key" not in up.log
        assert "no development key is made" in up.log
        key = _make_key(database_url, f"ext-{secrets.token_hex(3)}")
        slug = f"ext-{secrets.token_hex(3)}"
        with up.client(key) as client:
            tenant_id, _ = _register(client, slug)
        commands = up.commands()
        assert "using PostgreSQL at DATABASE_URL" in up.log
        assert "using Redis at REDIS_URL" in up.log
        assert "embedded" not in up.log.replace("no embedded server", "")
        assert not any("redis-server" in " ".join(argv) for argv in commands)
        assert not (data_dir / "postgres").exists()
        assert not (data_dir / "redis").exists()
        assert up.stop() == 0
    with psycopg.connect(database_url) as conn:
        made = _key_names(conn) - keys_before
        assert not any(name.startswith("dev-admin") for name in made), made
        row = conn.execute(
            "SELECT count(*) FROM tenant_registry.tenantregistry_events WHERE originator_id = %s",
            (tenant_id,),
        ).fetchone()
    assert row is not None and row[0] == 1


def test_up_after_a_killed_up_reuses_its_postgres_and_finds_its_tenants(
    data_dir: Path, bare_env: dict[str, str]
) -> None:
    with UpProcess(data_dir, bare_env) as first:
        key = first.wait_ready()
        with first.client(key) as client:
            initech, _ = _register(client, "initech")
        postmaster = first.postmaster_pid()
        first.process.kill()  # SIGKILL: no chance to stop its PostgreSQL
        first.process.wait()
        first.leave_postgres = True
    assert postmaster is not None
    with UpProcess(data_dir, bare_env) as second:
        assert second.wait_ready() == key
        assert "PostgreSQL already running, reused" in second.log
        assert second.postmaster_pid() == postmaster
        with second.client(key) as client:
            response = client.get(f"/v1/tenants/{initech}")
            assert response.status_code == 200, response.text
            assert response.json()["slug"] == "initech"
        # The CLI without DATABASE_URL uses this data folder's embedded PostgreSQL.
        cli_env = {**bare_env, "TENANT_REGISTRY_DATA_DIR": str(data_dir)}
        listed = subprocess.run(
            [TENANT_REGISTRY, "api-keys", "list", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert "using the embedded PostgreSQL of" in listed.stderr
        (dev_key,) = json.loads(listed.stdout)["data"]
        revoke = subprocess.run(
            [TENANT_REGISTRY, "api-keys", "revoke", dev_key["name"]],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert revoke.returncode == 0, revoke.stderr
        assert second.stop() == 0
    assert wait_all_gone([postmaster], timeout=30) == []

    # A revoked development key stays revoked: no new key on the next start.
    with UpProcess(data_dir, bare_env) as third:
        third.wait_for_line(re.compile(r"Tenant Registry ready"))
        assert "admin API key  " not in third.log
        assert "was revoked; not making another" in third.log
        assert third.stop() == 0


def _key_names(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT name FROM tenant_registry.api_keys").fetchall()
    return {row[0] for row in rows}


def _make_key(database_url: str, name: str) -> str:
    settings = Settings.model_validate({"DATABASE_URL": database_url})
    with connect(settings) as conn:
        _, secret = KeyAdmin(conn, settings).create(name, (ADMIN,), SystemClock().now())
    return secret


def _second_up_is_refused(data_dir: Path, env: dict[str, str]) -> None:
    argv = [TENANT_REGISTRY, "up", "--data-dir", str(data_dir), "--port", str(free_port())]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "already running on" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_a_port_in_use_before_starting_anything(
    data_dir: Path, bare_env: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [TENANT_REGISTRY, "up", "--data-dir", str(data_dir), "--port", port]
        result = subprocess.run(
            argv, env=bare_env, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (data_dir / "postgres").exists()
