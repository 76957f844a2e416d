"""``tenant-registry sweep|worker|scheduler`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest

from application.registry import TenantRegistry
from common.settings import Settings
from domain.errors import TenantGone
from domain.lifecycle import Command
from tests.workers.helpers import CLI, ROOT, cli_env, free_port, run_cli


def deleted_today(settings: Settings) -> UUID:
    """A tenant soft-deleted now, by the system clock (so due for purge in 90 days)."""
    app = TenantRegistry(settings)
    try:
        tenant_id = app.register(slug=f"t-{secrets.token_hex(5)}", name="Today", actor="test")
        app.run(Command.CANCEL, tenant_id.tenant.id, actor="test")
        app.run(Command.DELETE, tenant_id.tenant.id, actor="test")
        return tenant_id.tenant.id
    finally:
        app.close()


def report(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    parsed: dict[str, object] = json.loads(lines[0])
    return parsed


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (apt faketime)")
def test_sweep_purge_under_faketime_purges_a_tenant_deleted_today(
    wsettings: Settings, env: dict[str, str], registry: TenantRegistry
) -> None:
    tenant_id = deleted_today(wsettings)

    # Neither of these two changes anything, so they may run side by side.
    with ThreadPoolExecutor(2) as pool:
        today_run = pool.submit(run_cli, "sweep", "purge", env=env)
        dry_run = pool.submit(run_cli, "sweep", "purge", "--dry-run", env=env, faketime="+91 days")
        today, dry = today_run.result(), dry_run.result()
    assert report(today) == {
        "sweep": "purge",
        "dry_run": False,
        "examined": 0,
        "changed": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert "sweep purge: examined 0, changed 0" in today.stderr

    assert report(dry)["changed"] == 1
    assert "would change 1" in dry.stderr
    assert registry.history(tenant_id)[-1].type == "TenantDeleted"

    later = run_cli("sweep", "purge", env=env, faketime="+91 days")
    assert report(later)["changed"] == 1
    with pytest.raises(TenantGone):
        registry.history(tenant_id)


def test_commands_fail_in_one_line_when_their_services_are_unreachable(
    wsettings: Settings,
) -> None:
    closed = free_port()
    no_pg = cli_env(f"postgresql://postgres@127.0.0.1:{closed}/postgres", wsettings.redis_url)
    no_redis = cli_env(wsettings.database_url, f"redis://127.0.0.1:{closed}/0")
    runs = {
        "sweep": (["sweep", "trials"], no_pg, "cannot reach PostgreSQL"),
        "worker": (["worker", "--burst"], no_redis, "cannot reach Redis"),
        "scheduler": (["scheduler"], no_redis, "cannot reach Redis"),
    }
    procs = {
        name: subprocess.Popen(
            [CLI, *args], env=e, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (args, e, _) in runs.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        assert lines[0].startswith(f"tenant-registry: {runs[name][2]}"), (name, err)
        assert out == ""
