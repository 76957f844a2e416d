"""The development admin API key that ``tenant-registry up`` creates once and prints every start.

The key is created through the public ``api-keys create`` command (its secret is the last line of
its output) and kept in the data folder, readable only by its owner.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def create_key(cli_argv: Sequence[str], env: Mapping[str, str]) -> str:
    """Create an admin key with ``api-keys create``; return its secret."""
    name = f"dev-admin-{secrets.token_hex(3)}"
    argv = [*cli_argv, "api-keys", "create", "--name", name, "--scopes", "admin"]
    result = subprocess.run(  # noqa: S603 - our own command line, no shell
        argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        msg = f"api-keys create failed: {reason}"
        raise RuntimeError(msg)
    return lines[-1]


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
