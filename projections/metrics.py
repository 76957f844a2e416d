"""The projection's lag as the projector's ``--metrics-port`` reports it, read at scrape time.

The projector itself counts batches (:data:`common.metrics.PROJECTION_BATCH_EVENTS`); how far
behind the store it is comes from the same status query as ``/v1/projections``, on a short
connection per scrape (a scrape every few seconds costs two round trips).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.db import connect
from common.settings import Settings
from projections.schema import TENANTS
from projections.status import StatusReader

log = logging.getLogger(__name__)


class ProjectionLagCollector(Collector):
    """``tenant_registry_projection_lag_{events,seconds}`` of the ``tenants`` projection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reader = StatusReader(settings)

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with connect(self.settings) as conn:
                status = self.reader.read(conn, TENANTS)
        except psycopg.Error:
            log.warning("projection lag unavailable for metrics: the database is unreachable")
            return
        events = GaugeMetricFamily(
            "tenant_registry_projection_lag_events",
            "Events between the store's head and the projection's position.",
            labels=["projection"],
        )
        events.add_metric([status.name], status.lag_events)
        seconds = GaugeMetricFamily(
            "tenant_registry_projection_lag_seconds",
            "Age of the oldest event the projection has not processed.",
            labels=["projection"],
        )
        seconds.add_metric([status.name], status.lag_seconds)
        yield events
        yield seconds
