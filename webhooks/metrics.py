"""Webhook metrics (process-local ``prometheus_client`` default registry).

The dispatcher serves them when ``TENANT_REGISTRY_WEBHOOKS_METRICS_PORT`` is set. Delivery
jobs run in RQ's forked work horses: their counts reach a scrape only once metrics are
collected across processes (multiprocess mode), which the metrics rework brings.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "tenant_registry_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retry, failed, dropped, refused).",
    ("outcome",),
)
ATTEMPT_SECONDS = Histogram(
    "tenant_registry_webhook_attempt_seconds",
    "Duration of one webhook POST.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OLDEST_PENDING_SECONDS = Gauge(
    "tenant_registry_webhook_oldest_pending_seconds",
    "Age of the oldest pending webhook delivery (0 when none).",
)
