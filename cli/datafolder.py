"""The data folder of ``tenant-registry up``: its lock and the development admin API key.

With the embedded database, ``up`` creates the key once and prints it on every start. It is
made as ``api-keys create --scopes admin`` makes one (in this process, which saves a second
interpreter start on the way to ready) and kept in the data folder, readable only by its owner.
A revoked key stays revoked: ``up`` never makes another behind the operator's back. Against an
external ``DATABASE_URL`` it makes none at all (keys there are the operator's business).
"""

from __future__ import annotations

import fcntl
import os
import secrets
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


def key_state(settings: Settings, key: str) -> str:
    """``active``, ``revoked``, or ``unknown`` (this database never had the key)."""
    from api.keys import KeyAdmin  # noqa: PLC0415 - the API layer, only when needed

    key_id = key.partition(".")[0]
    with connect(settings) as conn:
        for stored in KeyAdmin(conn, settings).list():
            if stored.key_id == key_id:
                return "revoked" if stored.revoked_at is not None else "active"
    return "unknown"
