"""Prometheus metrics for every long-running billsync process (SPEC §8): defined once, here.

Each process builds one ``Metrics`` on its own ``CollectorRegistry`` (never the global one, so
tests and the demo can hold several) and serves it with ``start_metrics_server``. Figures that
live elsewhere are read when Prometheus scrapes, by collectors: state counts and queue lag from
the store (cached for a few seconds), queue depths from the broker, API call counts from the
adapters, the consumer's and the ingest's plain counters. Only the push latency histogram is
observed as it happens. A collector that cannot reach its source skips its figures and counts a
scrape error; a scrape never fails.

This module holds the registry, the server and the wiring; the collectors are in
:mod:`billsync.metrics_collectors` (re-exported here).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.registry import Collector

from adapters.store.models import SyncRecord
from billsync.metrics_collectors import (
    QUEUE_TTL_S,
    STORE_TTL_S,
    ApiCollector,
    IngestCollector,
    QueueCollector,
    StoreCollector,
    WorkerCollector,
)

if TYPE_CHECKING:
    from workers.ingest import StreamIngest
    from workers.service import WorkerService

__all__ = [
    "LATENCY_BUCKETS",
    "QUEUE_TTL_S",
    "STORE_TTL_S",
    "ApiCollector",
    "IngestCollector",
    "Metrics",
    "MetricsServer",
    "QueueCollector",
    "StoreCollector",
    "WorkerCollector",
    "instrument_ingest",
    "instrument_worker",
    "origin_ms",
    "start_metrics_server",
]

#: Push latency buckets (seconds): the p99 target is 0.5 s; retries and outages reach minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """billsync's metrics in one registry; ``watch`` adds a collector of read-on-scrape figures."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.push_latency = Histogram(
            "billsync_push_latency_seconds",
            "Salesforce commit (or push request) to the entity's LogiSense write being recorded.",
            ["object"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scrape_errors = Counter(
            "billsync_scrape_errors",
            "Scrapes in which a source (store, broker) could not be read.",
            ["source"],
            registry=self.registry,
        )

    def watch(self, collector: Collector) -> None:
        """Register a collector on this registry."""
        self.registry.register(collector)


@dataclass
class MetricsServer:
    """The HTTP endpoint serving ``/metrics``; ``port`` is the bound one (also for port 0)."""

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def start_metrics_server(
    port: int, registry: CollectorRegistry, *, addr: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` on a daemon thread (port 0: any free)."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server, thread)


def instrument_worker(service: WorkerService, metrics: Metrics | None = None) -> Metrics:
    """Attach billsync's metrics to a worker service before it starts.

    Registers the store, broker, API and worker collectors, and observes the push latency each
    time an entity's own sync reaches ``pushed`` (wrapping each object sync's ``pushed`` step).
    """
    metrics = metrics or Metrics()
    ctx = service.ctx
    metrics.watch(StoreCollector(ctx.sessions, metrics))
    metrics.watch(QueueCollector(service.broker_url, service.topology, metrics))
    metrics.watch(ApiCollector(ctx.logisense, ctx.salesforce))
    metrics.watch(WorkerCollector(service, metrics))
    ctx.push_observers.append(_push_latency(metrics, ctx.clock))
    return metrics


def instrument_ingest(ingest: StreamIngest, metrics: Metrics | None = None) -> Metrics:
    """Attach billsync's metrics to the streaming producer."""
    metrics = metrics or Metrics()
    metrics.watch(IngestCollector(ingest))
    metrics.watch(ApiCollector(salesforce=ingest.salesforce))
    return metrics


def _push_latency(metrics: Metrics, clock: Callable[[], float]) -> Callable[[Any], None]:
    """An observer of pushes: commit (or push request) → LogiSense write latency, by object."""

    def observe(record: SyncRecord) -> None:
        origin = origin_ms(record)
        if origin:
            metrics.push_latency.labels(record.object).observe(max(0.0, clock() - origin / 1000))

    return observe


def origin_ms(record: SyncRecord) -> int:
    """When the newest Salesforce event the push carries happened: a field's commit timestamp,
    or the push request (opportunities); 0 when unknown."""
    stamps = [int(s[0]) for s in (record.stamps or {}).values() if s]
    return max([*stamps, int(record.push_requested_at or 0)], default=0)
