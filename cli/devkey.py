"""The development admin API key that ``tenant-registry up`` creates once and prints every start.

The key is made as ``api-keys create --scopes admin`` makes one (in this process, which saves a
second interpreter start on the way to ready) and kept in the data folder, readable only by its
owner.
"""

from __future__ import annotations

import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from common.clock import SystemClock
from common.db import connect
from common.settings import Settings

KEY_FILE = "admin-api-key"


def read_key(data_dir: Path) -> str | None:
    """The stored key, or ``None`` when there is none yet."""
    try:
        key = (data_dir / KEY_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return key or None


def write_key(data_dir: Path, key: str) -> Path:
    """Store ``key`` with mode 0600 (written to a temporary file, then renamed into place)."""
    path = data_dir / KEY_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(key + "\n")
    tmp.replace(path)
    return path


def create_key(settings: Settings) -> str:
    """Create an admin key named ``dev-admin-<random>``; return its secret."""
    from api.keys import ADMIN, KeyAdmin  # noqa: PLC0415 - the API layer, only when needed

    name = f"dev-admin-{secrets.token_hex(3)}"
    with connect(settings) as conn:
        _, secret = KeyAdmin(conn, settings).create(name, (ADMIN,), SystemClock().now())
    return secret


def key_is_rejected(base_url: str, key: str) -> bool:
    """True when the API answers 401 to ``key`` (revoked, or a database that never knew it)."""
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
        f"{base_url}/v1/tenants?limit=1", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            return False
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
