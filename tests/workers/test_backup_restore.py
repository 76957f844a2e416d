"""The backup and restore runbook of docs/operations.md, step by step, with the real tools.

Back up (``pg_dump --format=custom``), purge a tenant, restore the backup into a fresh
database (``pg_restore``): the purged tenant is back. ``tenant-registry sweep purge`` on the
restored database, at a date after its ``purge_after`` (``faketime``), purges it again, and a
``pg_dump`` of the restored database holds none of its data.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from application.registry import TenantRegistry
from cli.cmd_core import migrate_all
from common.clock import FrozenClock
from common.settings import Settings
from domain.errors import TenantGone
from domain.lifecycle import Command
from projections.queries import ReadModel
from projections.runner import catch_up
from tests.conftest import ADMIN_URL, REDIS_URL
from tests.support.private_pg import pg_tool
from tests.workers.helpers import cli_env, pg_dump, run_cli

REGISTERED = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
#: Past the 90 days of retention after the delete on REGISTERED.
LATER = "2027-04-11 00:00:00"

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime")


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases: the live one (migrated) and an empty one to restore into."""
    names = [f"tr_backup_{secrets.token_hex(4)}", f"tr_restored_{secrets.token_hex(4)}"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    urls = [psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name) for name in names]
    yield urls[0], urls[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_a_restore_never_brings_back_a_tenant_whose_retention_had_ended(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    live_url, restored_url = databases
    live = Settings.model_validate({"DATABASE_URL": live_url})
    migrate_all(live)
    token = secrets.token_hex(6)
    markers = [f"Gone-{token}", f"gone-{token}@example.org", f"Secret-{token}"]
    registry = TenantRegistry(live, FrozenClock(REGISTERED))
    try:
        gone = registry.register(
            slug=f"gone-{token}",
            name=markers[0],
            contact_email=markers[1],
            metadata={"note": markers[2]},
            actor="test",
        ).tenant.id
        kept = registry.register(slug=f"kept-{token}", name="Kept Ltd", actor="test").tenant.id
        registry.run(Command.CANCEL, gone, actor="test")
        registry.run(Command.DELETE, gone, actor="test")
    finally:
        registry.close()
    catch_up(live)

    # 1. Back up.
    backup = tmp_path / "registry.dump"
    subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", f"--file={backup}", live_url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # The purge happens on the live database after the backup.
    purged = run_cli("sweep", "purge", env=cli_env(live_url, f"{REDIS_URL}/0"), faketime=LATER)
    assert purged.returncode == 0, purged.stderr
    assert '"changed": 1' in purged.stdout

    # 2. Restore into a fresh database: the tenant is back (soft-deleted, due).
    subprocess.run(
        [
            pg_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={restored_url}",
            str(backup),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    restored = Settings.model_validate({"DATABASE_URL": restored_url})
    assert all(m.encode() in pg_dump(restored_url) for m in markers)

    # 3. Migrate and re-apply every purge the backup predates.
    env = cli_env(restored_url, f"{REDIS_URL}/0")
    assert run_cli("migrate", env=env).returncode == 0
    again = run_cli("sweep", "purge", env=env, faketime=LATER)
    assert again.returncode == 0, again.stderr
    assert '"changed": 1' in again.stdout

    after = pg_dump(restored_url)
    for marker in markers:
        assert marker.encode() not in after, marker
    assert str(gone).encode() in after  # the PII-free tombstone
    registry = TenantRegistry(restored, FrozenClock(REGISTERED))
    reads = ReadModel(restored)
    try:
        with pytest.raises(TenantGone):
            registry.history(gone)
        catch_up(restored)
        with pytest.raises(TenantGone):
            reads.get(gone)
        row = reads.get(kept)
        assert row is not None and row.name == "Kept Ltd"
    finally:
        reads.close()
        registry.close()
