"""``python -m bench.client_install``: ``pip install ./client`` into a fresh venv (SPEC §9).

Builds the client's wheel, fetches httpx and pydantic (and what they need) with pip, installs
into a new virtual environment with ``--no-index`` from those wheels alone, then checks that
nothing of the server came along (no FastAPI, psycopg, RQ, …) and that ``mypy --strict``
passes on ``client/examples/consumer.py`` against the installed (not editable) package.
Not part of the test suite: it needs the package index and takes about a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENT = REPO / "client"
SERVER_PACKAGES = {"fastapi", "starlette", "uvicorn", "psycopg", "rq", "redis", "eventsourcing"}


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, check=False
    )
    if done.returncode != 0:
        msg = f"{' '.join(map(str, argv))} failed:\n{done.stdout}\n{done.stderr}"
        raise RuntimeError(msg)
    return done.stdout


def main() -> int:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tr-client-install-") as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        pip: list[str | Path] = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        _run(*pip, "wheel", "--no-deps", "-w", wheels, CLIENT)
        _run(*pip, "download", "-d", wheels, "httpx>=0.27,<1", "pydantic>=2.7,<3")
        _run(sys.executable, "-m", "venv", work / "fresh")
        python = work / "fresh" / "bin" / "python"
        fresh_pip: list[str | Path] = [python, "-m", "pip", "--disable-pip-version-check", "-q"]
        _run(*fresh_pip, "install", "--no-index", "--find-links", wheels, "tenant-registry-client")
        listed = json.loads(_run(python, "-m", "pip", "list", "--format", "json"))
        names = sorted(item["name"].lower() for item in listed)
        leaked = sorted(SERVER_PACKAGES & set(names))
        example = CLIENT / "examples" / "consumer.py"
        # From the temporary directory: the repo's mypy settings (mypy_path) must not help.
        _run(sys.executable, "-m", "mypy", "--strict", "--python-executable", python, example,
             cwd=work)  # fmt: skip
    print(f"installed: {', '.join(names)}")
    print(f"server packages pulled in: {leaked or 'none'}")
    print(f"mypy --strict on {example.relative_to(REPO)}: passed")
    print(f"took {time.monotonic() - t0:.0f}s")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
