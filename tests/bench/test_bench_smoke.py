"""The benchmark still runs end to end (a smoke run: tiny sizes, no figure is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_URL, REDIS_URL

REPO = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_a_table_with_a_figure_per_row(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": ADMIN_URL,
            "REDIS_URL": f"{REDIS_URL}/0",
            "BENCH_RESULTS_DIR": str(tmp_path),
        }
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--no-anchors",
            "--only",
            "loading,catch-up,sweep",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| scenario | figure |" in done.stdout
    results = json.loads((tmp_path / "latest.json").read_text())
    scenarios = [row["scenario"] for row in results["rows"]]
    assert any(s.startswith("load a tenant") for s in scenarios)
    assert any(s.startswith("projection catch-up") for s in scenarios)
    assert any(s.startswith("sweep of 2,000 due trials") for s in scenarios)
    assert all(row["figure"] is not None for row in results["rows"])
    assert (tmp_path / "latest.md").read_text().startswith("# Benchmark")
