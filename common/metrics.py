"""Metrics shared by every process of the registry, and prometheus-client's multiprocess mode.

Where each process publishes (docs/operations.md, "Metrics"):

* ``serve``: ``/metrics`` on the API port. With ``--workers N`` it runs prometheus-client's
  multiprocess mode: :func:`prepare_multiprocess_dir` gives each ``serve`` run an empty folder
  in ``PROMETHEUS_MULTIPROC_DIR`` before the workers start; a scrape merges all their files.
* ``project``, ``worker``, ``scheduler``: ``--metrics-port P`` serves this process's metrics
  (the module-level ones below plus ``process_*``) at ``http://127.0.0.1:P/metrics``. The
  worker runs each job in a forked child, so it switches to multiprocess mode by itself.

The module-level metrics below live in the default registry of each process. New ones
belong here, named ``tenant_registry_<area>_<what>``: webhook deliveries by outcome (worker)
and open streams (API) are for their features to add beside these.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    multiprocess,
    start_http_server,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Projector (``project``): one observation per committed batch.
PROJECTION_BATCH_EVENTS = Histogram(
    "tenant_registry_projection_batch_events",
    "Events applied per committed projection batch.",
    ("projection",),
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
PROJECTION_POSITION = Gauge(
    "tenant_registry_projection_position",
    "Global position the projection has reached (this projector's view).",
    ("projection",),
    multiprocess_mode="max",
)
PROJECTION_LAG_EVENTS = Gauge(
    "tenant_registry_projector_lag_events",
    "Events between the store's head and this projector's position, after its last batch.",
    ("projection",),
    multiprocess_mode="mostrecent",
)

#: Sweeps (``worker`` jobs and ``sweep`` by hand).
SWEEP_TENANTS = Counter(
    "tenant_registry_sweep_tenants_total",
    "Tenants a sweep looked at, by sweep and outcome (the sweep's counts).",
    ("sweep", "outcome"),
)
SWEEP_SECONDS = Histogram(
    "tenant_registry_sweep_duration_seconds",
    "Wall time of one sweep run, by sweep and result (ok, error).",
    ("sweep", "result"),
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)

#: Scheduler: sweep slots it dispatched, by whether the job was new or already enqueued.
SCHEDULER_DISPATCHES = Counter(
    "tenant_registry_scheduler_dispatches_total",
    "Sweep slots dispatched by the scheduler, by sweep and result (enqueued, duplicate).",
    ("sweep", "result"),
)


def multiprocess_dir() -> Path | None:
    """The multiprocess folder of this process, if it runs in that mode."""
    configured = os.environ.get(MULTIPROC_ENV)
    return Path(configured) if configured else None


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Before ``serve`` starts its workers: an empty folder for their metric files.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is emptied (files of an earlier run would be
    counted again); else, with several workers, a fresh temporary folder is made and set in
    the environment the workers inherit. One worker needs none: its registry is the truth.
    """
    configured = multiprocess_dir()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):
            stale.unlink()
        return configured
    if workers <= 1:
        return None
    folder = Path(tempfile.mkdtemp(prefix="tenant-registry-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def remove_multiprocess_dir(folder: Path | None) -> None:
    """After ``serve``: remove a folder :func:`prepare_multiprocess_dir` made itself."""
    if folder is not None and folder.name.startswith("tenant-registry-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


def multiprocess_registry() -> CollectorRegistry:
    """A registry that reads every process's files (build one per scrape)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop a finished worker's ``live*`` gauges from later scrapes."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> None:
    """``--metrics-port``: serve this process's metrics over HTTP (a daemon thread); in
    multiprocess mode those of its children too (the worker's work horses)."""
    if port is None:
        return
    if multiprocess_dir() is None:
        start_http_server(port, addr=host)
        return
    registry = multiprocess_registry()
    ProcessCollector(registry=registry)
    start_http_server(port, addr=host, registry=registry)


def reexec_in_multiprocess_mode() -> None:
    """Make this process (and the children it forks) write metrics to files.

    prometheus-client picks its storage when it is imported, before arguments are parsed: so
    a process that needs multiprocess mode and has no ``PROMETHEUS_MULTIPROC_DIR`` starts
    again, with the same command line, in a fresh folder it removes at exit.
    """
    if multiprocess_dir() is not None:
        if os.environ.get(_OWNED_ENV) == str(os.getpid()):
            folder = multiprocess_dir()
            atexit.register(shutil.rmtree, str(folder), True)
        return
    folder = Path(tempfile.mkdtemp(prefix="tenant-registry-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    os.environ[_OWNED_ENV] = str(os.getpid())  # exec keeps the pid
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - our own command line, again


_OWNED_ENV = "TENANT_REGISTRY_METRICS_DIR_OWNER"
