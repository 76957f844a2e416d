"""Prometheus metrics of one app (its own ``CollectorRegistry``: tests build many apps)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Request latency buckets (seconds), dense where the targets are (1-50 ms).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """The app's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        )
        self.projection_lag_seconds = Gauge(
            "tenant_registry_projection_lag_seconds",
            "Age of the oldest event the projection has not processed.",
            ("projection",),
            registry=self.registry,
        )

        self.streams = Gauge(
            "tenant_registry_streams",
            "Open Server-Sent Event streams, by stream (changes, events).",
            ("stream",),
            registry=self.registry,
            multiprocess_mode="livesum",  # with several workers: the sum of the live ones
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


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
