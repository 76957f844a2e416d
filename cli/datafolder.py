"""The data folder of ``tenant-registry up``: its lock and the development admin API key.

``up`` creates the key once and prints it on every start. It is made as ``api-keys create
--scopes admin`` makes one (in this process, which saves a second interpreter start on the way
to ready) and kept in the data folder, readable only by its owner.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from common.clock import SystemClock
from common.db import connect
from common.settings import Settings

KEY_FILE = "admin-api-key"
LOCK_FILE = "up.lock"


class FolderInUse(Exception):
    """Another ``up`` holds the data folder."""


def lock(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the folder (until the returned file closes): two ``up`` on one
    folder would fight over its servers."""
    handle = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FolderInUse(str(data_dir)) from None
    return handle


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
    from application.keys import ADMIN, KeyAdmin  # noqa: PLC0415 - only when needed

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
