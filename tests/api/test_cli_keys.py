"""``tenant-registry api-keys``: the secret alone on the last line; list; revoke by name.

In-process (``cli.main.main``) for speed; the console script itself is exercised by the
``serve`` test in ``test_outage.py``.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import bearer
from tests.conftest import Cli


def test_create_list_revoke_round_trip(cli: Cli, client: TestClient) -> None:
    code, out, _ = cli("api-keys", "create", "--name", "billing", "--scopes", "tenants:read")
    assert code == 0
    secret = out.splitlines()[-1]  # what `tail -n 1` gives a script
    assert secret.strip() == secret and " " not in secret
    assert client.get("/v1/stats", headers=bearer(secret)).status_code == 200

    code, out, _ = cli("api-keys", "list")
    assert code == 0
    assert "billing" in out and "tenants:read" in out
    assert secret.partition(".")[2] not in out

    assert cli("api-keys", "revoke", "billing")[0] == 0
    code, _, err = cli("api-keys", "revoke", "billing")
    assert code != 0
    assert "no active API key named 'billing'" in err
    assert "Traceback" not in err


def test_unknown_scope_is_refused_with_the_valid_ones(cli: Cli) -> None:
    code, out, err = cli("api-keys", "create", "--name", "x", "--scopes", "tenants:read,root")
    assert code != 0
    assert "unknown scope(s) root" in err
    assert "tenants:write" in err  # the valid names are listed
    assert out == ""
    assert "Traceback" not in err
