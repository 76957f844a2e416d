"""``tenant-registry tenants …``, ``--version`` and ``api-keys list --json`` (in-process)."""

from __future__ import annotations

import getpass
import json
import secrets
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import psycopg
from psycopg import sql

from common.settings import Settings
from projections.runner import catch_up
from tests.conftest import ADMIN_URL, Cli


def _json(cli: Cli, *args: str) -> dict[str, Any]:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    document = json.loads(out)  # one JSON document, nothing else on stdout
    assert isinstance(document, dict)
    return document


def test_version_prints_the_package_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0
    assert run.stdout.strip() == f"tenant-registry {version('tenant-registry')}"


def test_register_lifecycle_update_history_and_reads_as_an_operator(
    cli: Cli, settings: Settings
) -> None:
    tenant = _json(
        cli, "tenants", "register", "--slug", "initech", "--name", "Initech", "--plan", "pro"
    )
    tenant_id = str(tenant["id"])
    assert tenant["status"] == "trial"
    assert _json(cli, "tenants", "activate", tenant_id, "--reason", "paid")["status"] == "active"
    updated = _json(cli, "tenants", "update", tenant_id, "--metadata", '{"crm": "I-1"}')
    assert updated["metadata"] == {"crm": "I-1"}
    assert _json(cli, "tenants", "cancel", tenant_id)["status"] == "cancelled"
    deleted = _json(cli, "tenants", "delete", tenant_id)
    assert deleted["deleted_at"] is not None
    assert _json(cli, "tenants", "restore", tenant_id)["deleted_at"] is None

    history = _json(cli, "tenants", "history", tenant_id)["data"]
    assert isinstance(history, list)
    assert [e["type"] for e in history] == [
        "TenantRegistered",
        "TenantActivated",
        "TenantProfileUpdated",
        "TenantCancelled",
        "TenantDeleted",
        "TenantRestored",
    ]
    assert {e["actor"] for e in history} == {f"cli:{getpass.getuser()}"}
    assert len({e["correlation_id"] for e in history}) == 1  # this process's invocation id
    assert history[0]["correlation_id"]
    assert history[1]["reason"] == "paid"

    catch_up(settings)
    got = _json(cli, "tenants", "get", tenant_id)
    assert (got["slug"], got["status"], got["version"]) == ("initech", "cancelled", 6)
    listed = _json(cli, "tenants", "list", "--status", "cancelled")
    assert [t["id"] for t in listed["data"]] == [tenant_id]
    assert listed["next_cursor"] is None

    code, out, _ = cli("tenants", "list")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["ID", "SLUG", "NAME", "STATUS"]
    assert "initech" in out
    code, out, _ = cli("tenants", "history", tenant_id)
    assert code == 0 and "TenantRestored" in out


def test_refusals_are_one_line_on_stderr_with_a_non_zero_exit(cli: Cli) -> None:
    tenant_id = str(_json(cli, "tenants", "register", "--slug", "hooli", "--name", "Hooli")["id"])
    cases = {
        ("tenants", "reactivate", tenant_id): (
            "tenant-registry: invalid transition: cannot reactivate a tenant that is trial"
            " (allowed: activate, pause, cancel)"
        ),
        ("tenants", "get", "00000000-0000-0000-0000-000000000001"): (
            "tenant-registry: tenant 00000000-0000-0000-0000-000000000001 not found"
        ),
        ("tenants", "history", "00000000-0000-0000-0000-000000000001"): (
            "tenant-registry: tenant 00000000-0000-0000-0000-000000000001 not found"
        ),
        ("tenants", "activate", "not-a-uuid"): (
            "tenant-registry: 'not-a-uuid' is not a tenant id (a UUID)"
        ),
        ("tenants", "register", "--slug", "hooli", "--name", "Again"): (
            "tenant-registry: slug 'hooli' is taken"
        ),
        ("tenants", "activate", tenant_id, "--if-version", "7"): (
            "tenant-registry: expected version 7, current version is 1"
        ),
    }
    for argv, message in cases.items():
        code, out, err = cli(*argv)
        assert code == 1, argv
        assert out == ""
        assert err.strip().splitlines()[-1] == message, argv
        assert "Traceback" not in err
    code, _, err = cli("tenants", "update", tenant_id, "--timezone", "Mars/Base")
    assert code == 1
    assert err.startswith("tenant-registry: invalid: timezone:")
    assert len(err.strip().splitlines()) == 1


def test_api_keys_list_json_is_one_document_without_secrets(cli: Cli) -> None:
    code, out, _ = cli("api-keys", "create", "--name", "ops", "--scopes", "tenants:read")
    assert code == 0
    secret = out.splitlines()[-1]
    keys = _json(cli, "api-keys", "list")["data"]
    assert isinstance(keys, list)
    (key,) = keys
    assert (key["name"], key["scopes"], key["revoked_at"]) == ("ops", ["tenants:read"], None)
    assert secret.partition(".")[2] not in json.dumps(keys)


def test_a_database_without_the_schema_is_one_line_not_a_traceback() -> None:
    dbname = f"tr_noschema_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=dbname)
        run = subprocess.run(
            [sys.executable, "-m", "cli.main", "api-keys", "list"],
            env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("tenant-registry: database error:")
    assert line.endswith("(run 'tenant-registry migrate' first)")
