"""The client installs on its own: it declares only httpx and pydantic and imports nothing of
the server. (The fresh-venv install, with ``mypy --strict`` on a consumer, is
``python -m bench.client_install``: it needs the package index.)"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"
SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "psycopg", "rq", "redis", "eventsourcing")


def test_the_client_declares_only_httpx_and_pydantic() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    names = sorted(
        spec.split(">")[0].split("=")[0].split("<")[0] for spec in project["dependencies"]
    )
    assert names == ["httpx", "pydantic"]
    assert "optional-dependencies" not in project


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    probe = (
        "import sys, tenant_registry_client\n"
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=CLIENT
    ).stdout.split()
    assert "tenant_registry_client" in loaded
    assert not set(loaded) & {*SERVER_PACKAGES, "api", "domain", "application", "projections"}


def test_the_package_ships_its_py_typed_marker() -> None:
    assert (CLIENT / "tenant_registry_client" / "py.typed").exists()
