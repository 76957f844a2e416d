"""What every scenario shares: the scratch database, sizes, progress output, result rows."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.services import Services
from common.settings import Settings

Better = Literal["higher", "lower"]


@dataclass
class Row:
    """One line of the results table: a figure beside its target and its anchor."""

    scenario: str
    figure: float | None
    unit: str
    target: float | None = None
    better: Better = "higher"
    anchor: str | None = None
    anchor_figure: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """Whether the figure reaches the target (None when there is no target or figure)."""
        if self.target is None or self.figure is None:
            return None
        if self.better == "higher":
            return self.figure >= self.target
        return self.figure <= self.target

    @property
    def ratio(self) -> float | None:
        """figure / anchor, when both exist."""
        if self.figure is None or not self.anchor_figure:
            return None
        return self.figure / self.anchor_figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "figure": self.figure,
            "unit": self.unit,
            "target": self.target,
            "better": self.better,
            "met": self.met,
            "anchor": self.anchor,
            "anchor_figure": self.anchor_figure,
            "ratio": self.ratio,
            "note": self.note,
            "extra": self.extra,
        }


@dataclass
class Context:
    """State shared by the scenarios of one run."""

    settings: Settings
    admin_url: str
    quick: bool
    workdir: Path
    services: Services
    anchors: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    #: Filled by the seeding step: tenant ids (for GET by id) and how many were seeded.
    seeded_ids_file: Path | None = None
    seeded_tenants: int = 0
    api_peak_rss_mib: float = 0.0
    #: ``--tenants N``: seed this many instead of the default (a smaller store, full timings).
    tenants: int | None = None
    started: float = field(default_factory=time.monotonic)

    def size(self, full: int, quick: int) -> int:
        """A problem size: ``full`` normally, ``quick`` for a smoke run."""
        return quick if self.quick else full

    def add(self, row: Row) -> Row:
        """Record a result row, filling in its anchor's figure from this run."""
        if row.anchor is not None and row.anchor_figure is None:
            row.anchor_figure = self.anchors.get(row.anchor)
        self.rows.append(row)
        shown = "n/a" if row.figure is None else f"{row.figure:,.1f} {row.unit}"
        self.say(f"  -> {row.scenario}: {shown}")
        return row

    def say(self, message: str) -> None:
        """A progress line on standard error, stamped with the time since the start."""
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Announce a step and how long it took."""
        self.say(f"{name} ...")
        t0 = time.monotonic()
        yield
        self.say(f"{name} done in {time.monotonic() - t0:.1f}s")
