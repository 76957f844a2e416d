"""Prometheus metrics of one app (its own ``CollectorRegistry``: tests build many apps).

With ``serve --workers N`` every worker is its own process, and a scrape reaches one of them.
There ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (see :mod:`common.metrics`): each worker
writes its values to files in that folder and a scrape merges every worker's files, so one
scrape counts the requests of all of them. Process metrics then come per worker (a ``pid``
label): each worker refreshes its own at most every few seconds while it serves requests.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import multiprocess_dir, multiprocess_registry

#: Request latency buckets (seconds), dense where the targets are (1-50 ms).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """The app's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_dir() is not None
        self.process = WorkerProcessMetrics(self.registry) if self.multiprocess else None
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)  # process_* of this one process
        self.request_seconds = Histogram(
            "tenant_registry_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commands = Counter(
            "tenant_registry_commands_total",
            "Commands received through the API, by command and outcome "
            "(changed, unchanged, refused, invalid, replayed, unavailable, error).",
            ("command", "outcome"),
            registry=self.registry,
        )
        self.projection_lag_events = Gauge(
            "tenant_registry_projection_lag_events",
            "Events between the store's head and the projection's position.",
            ("projection",),
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.projection_lag_seconds = Gauge(
            "tenant_registry_projection_lag_seconds",
            "Age of the oldest event the projection has not processed.",
            ("projection",),
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

        self.streams = Gauge(
            "tenant_registry_streams",
            "Open Server-Sent Event streams, by stream (changes, events).",
            ("stream",),
            registry=self.registry,
            multiprocess_mode="livesum",  # with several workers: the sum of the live ones
        )

    def render(self) -> bytes:
        """The Prometheus text exposition (every worker's, in multiprocess mode)."""
        if self.process is not None:
            self.process.refresh(force=True)
            return generate_latest(multiprocess_registry())
        return generate_latest(self.registry)

    def tick(self) -> None:
        """Called per request: keeps this worker's process metrics fresh."""
        if self.process is not None:
            self.process.refresh()


class WorkerProcessMetrics:
    """``process_*`` of one worker as gauges with a ``pid`` label (``liveall``: a worker
    that has exited is dropped from the scrape once ``serve`` marks it dead)."""

    REFRESH_SECONDS = 5.0

    def __init__(self, registry: CollectorRegistry) -> None:
        self._source = ProcessCollector(registry=None)
        self._gauges: dict[str, Gauge] = {}
        self._registry = registry
        self._last = -self.REFRESH_SECONDS

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.REFRESH_SECONDS:
            return
        self._last = now
        for family in self._source.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is None:
                    gauge = Gauge(
                        f"tenant_registry_worker_{sample.name.removesuffix('_total')}",
                        f"{family.documentation} (per API worker process)",
                        registry=self._registry,
                        multiprocess_mode="liveall",
                    )
                    self._gauges[sample.name] = gauge
                gauge.set(sample.value)


class MetricsMiddleware:
    """Times every HTTP request and labels it with the route template that matched."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        self.metrics.tick()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.request_seconds.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
