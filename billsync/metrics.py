"""Prometheus metrics for every long-running billsync process (SPEC §8): defined once, here.

Each process builds one ``Metrics`` on its own ``CollectorRegistry`` (never the global one, so
tests and the demo can hold several) and serves it with ``start_metrics_server``. Figures that
live elsewhere are read when Prometheus scrapes, by collectors: state counts and queue lag from
the store (cached for a few seconds), queue depths from the broker, API call counts from the
adapters, the consumer's and the ingest's plain counters. Only the push latency histogram is
observed as it happens. A collector that cannot reach its source skips its figures and counts a
scrape error; a scrape never fails.

Calls to LogiSense and Salesforce are counted by system, operation and outcome and timed as
they happen (the adapters announce each call to ``Metrics.observe_call``). The store-derived
gauges (states, due entities, queue lag, stored dead letters) are the same figures from every
process, so only the process started with ``BILLSYNC_STORE_METRICS=true`` exports them. The HTTP
server also answers ``/healthz`` and ``/readyz`` (:mod:`billsync.health`).

This module holds the registry, the server and the wiring; the collectors are in
:mod:`billsync.metrics_collectors` (re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    make_wsgi_app,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from adapters.http_server import HttpServer
from adapters.store.models import SyncRecord
from billsync.health import Readiness, broker_probe, http_probe, store_probe
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
    from workers.ingest.stream import StreamIngest
    from workers.sync.service import WorkerService

__all__ = [
    "LATENCY_BUCKETS",
    "QUEUE_TTL_S",
    "STORE_TTL_S",
    "ApiCollector",
    "IngestCollector",
    "Metrics",
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
#: API call duration buckets (seconds): simulators answer in ms, the timeout is 15 s.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)

_UNUSED = (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR)  # the global registry's own


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("billsync")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """billsync's metrics in one registry; ``watch`` adds a collector of read-on-scrape figures.

    ``readiness`` holds the probes ``/readyz`` runs (empty: always ready)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        import platform

        self.registry = registry or CollectorRegistry()
        self.readiness = Readiness()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("billsync_build", "billsync's version and Python's.", registry=self.registry).info(
            {"version": _version(), "python": platform.python_version()}
        )
        self.api_calls = Counter(
            "billsync_api_calls",
            "Requests to an outside system by operation and outcome (ok, client_error, "
            "throttled, server_error, timeout, unreachable).",
            ["system", "operation", "outcome"],
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "billsync_api_call_duration_seconds",
            "Time to an outside system's answer (or to the failure), by operation.",
            ["system", "operation"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
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

    def observe_call(self, system: str, operation: str, outcome: str, seconds: float) -> None:
        """Count and time one call to an outside system (an adapter's call observer)."""
        self.api_calls.labels(system, operation, outcome).inc()
        self.api_duration.labels(system, operation).observe(max(0.0, seconds))


def http_app(metrics: Metrics) -> Callable[..., Iterable[bytes]]:
    """``/metrics``, ``/healthz`` (alive) and ``/readyz`` (dependencies reachable)."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return _answer(start_response, 200, {"status": "alive"})
        if path == "/readyz":
            failures = {k: v for k, v in metrics.readiness.check().items() if v is not None}
            if failures:
                return _answer(start_response, 503, {"status": "unready", "failing": failures})
            return _answer(start_response, 200, {"status": "ready"})
        if path in ("/metrics", "/"):
            return exposition(environ, start_response)
        return _answer(start_response, 404, {"status": "not found"})

    return app


def _answer(start_response: Callable[..., Any], code: int, body: dict[str, Any]) -> list[bytes]:
    reasons = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
    data = json.dumps(body).encode()
    start_response(
        f"{code} {reasons[code]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def start_metrics_server(
    port: int, metrics: Metrics | CollectorRegistry, *, addr: str = "127.0.0.1"
) -> HttpServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` at ``http://addr:port`` on a daemon
    thread (port 0: any free). A bare registry is served with no readiness probes."""
    if isinstance(metrics, CollectorRegistry):
        bare = Metrics.__new__(Metrics)
        bare.registry, bare.readiness = metrics, Readiness()
        metrics = bare
    server = HttpServer(http_app(metrics), host=addr, port=port, threads=4, name="metrics-http")
    server.start()
    return server


def instrument_worker(
    service: WorkerService, metrics: Metrics | None = None, *, store_gauges: bool | None = None
) -> Metrics:
    """Attach billsync's metrics to a worker service before it starts.

    Registers the broker, API and worker collectors (and the store's, when this process exports
    them: ``store_gauges``, else the service's ``store_metrics``), counts and times every call
    its adapters make, observes the push latency each time an entity's own sync reaches
    ``pushed``, and sets the readiness probes: broker, store and LogiSense.
    """
    metrics = metrics or Metrics()
    ctx = service.ctx
    if store_gauges if store_gauges is not None else getattr(service, "store_metrics", False):
        metrics.watch(StoreCollector(ctx.sessions, metrics))
    metrics.watch(QueueCollector(service.broker_url, service.topology, metrics))
    metrics.watch(ApiCollector(ctx.logisense, ctx.salesforce))
    metrics.watch(WorkerCollector(service, metrics))
    _observe_calls(metrics, ctx.logisense, ctx.salesforce)
    ctx.push_observers.append(_push_latency(metrics, ctx.clock))
    metrics.readiness.probes.update(
        broker=broker_probe(service.broker_url),
        store=store_probe(ctx.sessions),
        logisense=http_probe(getattr(getattr(ctx.logisense, "session", None), "base_url", None)),
    )
    return metrics


def instrument_ingest(
    ingest: StreamIngest, metrics: Metrics | None = None, *, sessions: Any = None
) -> Metrics:
    """Attach billsync's metrics to the streaming producer; readiness: broker and store."""
    metrics = metrics or Metrics()
    metrics.watch(IngestCollector(ingest))
    metrics.watch(ApiCollector(salesforce=ingest.salesforce))
    _observe_calls(metrics, None, ingest.salesforce)
    metrics.readiness.probes["broker"] = broker_probe(ingest.publisher_url)
    if sessions is not None:
        metrics.readiness.probes["store"] = store_probe(sessions)
    return metrics


def _observe_calls(metrics: Metrics, logisense: Any, salesforce: Any) -> None:
    session = getattr(logisense, "session", None)
    for adapter in (session, salesforce):
        observers = getattr(adapter, "observers", None)
        if observers is not None:
            observers.add(metrics.observe_call)


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
