"""``tenant-registry api-keys``: the secret alone on the last line; list; revoke by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from common.settings import Settings
from tests.api.conftest import bearer

#: The console script (``python -m cli.main`` would load ``cli.main`` twice).
CLI = str(Path(sys.executable).with_name("tenant-registry"))


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    return subprocess.run(
        [CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_list_revoke_round_trip(settings: Settings, client: TestClient) -> None:
    created = _cli(settings, "api-keys", "create", "--name", "billing", "--scopes", "tenants:read")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.splitlines()[-1]  # what `tail -n 1` gives a script
    assert secret.strip() == secret and " " not in secret
    assert client.get("/v1/stats", headers=bearer(secret)).status_code == 200

    listed = _cli(settings, "api-keys", "list")
    assert listed.returncode == 0
    assert "billing" in listed.stdout and "tenants:read" in listed.stdout
    assert secret.partition(".")[2] not in listed.stdout

    revoked = _cli(settings, "api-keys", "revoke", "billing")
    assert revoked.returncode == 0, revoked.stderr
    again = _cli(settings, "api-keys", "revoke", "billing")
    assert again.returncode != 0
    assert "no active API key named 'billing'" in again.stderr
    assert "Traceback" not in again.stderr


def test_unknown_scope_is_refused_with_the_valid_ones(settings: Settings) -> None:
    result = _cli(settings, "api-keys", "create", "--name", "x", "--scopes", "tenants:read,root")
    assert result.returncode != 0
    assert "unknown scope(s) root" in result.stderr
    assert "tenants:write" in result.stderr  # the valid names are listed
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
