"""The results table: printed once, and written as JSON and markdown under bench/results/."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.context import Context, Row

#: Where results go (``BENCH_RESULTS_DIR`` overrides: the smoke test writes to a temp folder).
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")

ANCHOR_NAMES = {
    "pgbench-1": "pgbench 1 client",
    "pgbench-8": "pgbench 8 clients",
    "eventsourcing-save": "eventsourcing save",
    "projection-runner": "eventsourcing ProjectionRunner",
    "peer-get": "plain-CRUD peer",
    "peer-get-p99": "plain-CRUD peer",
    "peer-commands": "plain-CRUD peer",
    "peer-commands-p99": "plain-CRUD peer",
}


def _num(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "n/a"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def _cells(row: Row) -> list[str]:
    target = ""
    if row.target is not None:
        target = f"{'≥' if row.better == 'higher' else '≤'} {_num(row.target, row.unit)}"
    anchor = ""
    if row.anchor is not None:
        # The named anchors are rates (p99 rows show theirs in ms); an anchor measured beside a
        # row shares the row's unit.
        unit = "/s" if row.anchor in ANCHOR_NAMES and row.better == "higher" else row.unit
        anchor = f"{ANCHOR_NAMES.get(row.anchor, row.anchor)}: {_num(row.anchor_figure, unit)}"
    ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
    met = {True: "met", False: "NOT met", None: ""}[row.met]
    return [row.scenario, _num(row.figure, row.unit), target, met, anchor, ratio, row.note]


HEADER = ["scenario", "figure", "target", "met", "anchor (same run)", "ratio", "notes"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def machine(ctx: Context) -> dict[str, Any]:
    """What the figures were measured on."""
    with psycopg.connect(ctx.admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "postgresql": row[0] if row else None,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def write(ctx: Context, argv: list[str], load_at_start: list[float]) -> tuple[Path, Path]:
    """Write ``bench-<time>.json`` and ``.md`` (and ``latest.*`` copies); return both paths."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC)
    info = machine(ctx) | {"load_average_start": [round(x, 2) for x in load_at_start]}
    document = {
        "date": stamp.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *argv]),
        "quick": ctx.quick,
        "machine": info,
        "anchors": ctx.anchors,
        "rows": [r.as_dict() for r in ctx.rows],
    }
    base = RESULTS / f"bench-{stamp:%Y%m%d-%H%M%S}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    md_path.write_text(
        f"# Benchmark {document['date']}\n\n`{document['command']}` on {info['cpus']} cores, "
        f"{info['memory_gib']} GiB, PostgreSQL {info['postgresql']} on the same host; "
        f"load average {info['load_average_start']} at start, {info['load_average_end']} at end."
        f"\n\n{markdown_table(ctx.rows)}\n"
    )
    shutil.copyfile(json_path, RESULTS / "latest.json")
    shutil.copyfile(md_path, RESULTS / "latest.md")
    return json_path, md_path
