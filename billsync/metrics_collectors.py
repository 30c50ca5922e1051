"""The read-on-scrape collectors of billsync's metrics: store, broker, API calls, worker, ingest.

Figures that live elsewhere are read when Prometheus scrapes: state counts and queue lag from
the store (cached for a few seconds), queue depths from the broker, API call counts from the
adapters, the consumer's and the ingest's plain counters. A collector that cannot reach its
source skips its figures and counts a scrape error in :class:`billsync.metrics.Metrics`; a scrape
never fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.store.db import Sessions
from adapters.store.gauges import last_transition_id, read_figures, transitions_after
from statemachine.machine import FAILED

if TYPE_CHECKING:
    from adapters.broker.topology import Topology
    from billsync.metrics import Metrics
    from workers.ingest.stream import StreamIngest
    from workers.sync.service import WorkerService

log = logging.getLogger("billsync.metrics")

STORE_TTL_S = 2.0
QUEUE_TTL_S = 5.0


class _Cached:
    """Figures recomputed at most every ``ttl_s`` seconds (a scrape must stay cheap)."""

    def __init__(self, read: Callable[[], list[Metric]], ttl_s: float, source: str, m: Metrics):
        self._read, self._ttl_s, self._source, self._metrics = read, ttl_s, source, m
        self._at = -1e18
        self._cached: list[Metric] = []
        self._lock = threading.Lock()

    def get(self) -> list[Metric]:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl_s:
                try:
                    self._cached = self._read()
                except Exception as exc:
                    log.warning("metrics: %s unreadable (%s)", self._source, type(exc).__name__)
                    self._metrics.scrape_errors.labels(self._source).inc()
                    self._cached = []
                self._at = time.monotonic()
            return self._cached


class StoreCollector(Collector):
    """Entities per object and state, due entities, queue lag, and stored dead letters."""

    def __init__(self, sessions: Sessions, metrics: Metrics, ttl_s: float = STORE_TTL_S) -> None:
        self.sessions = sessions
        self._cache = _Cached(self._read, ttl_s, "store", metrics)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self._cache.get()

    def _read(self) -> list[Metric]:
        now = time.time()
        with self.sessions() as session:
            figures = read_figures(session, now)
        entities = GaugeMetricFamily(
            "billsync_entities", "Synced entities per object and state.", labels=["object", "state"]
        )
        for object_name, states in sorted(figures.entities.items()):
            for state, count in states.items():
                entities.add_metric([object_name, state], count)
        oldest = figures.oldest_due_at
        return [
            entities,
            GaugeMetricFamily(
                "billsync_entities_due", "Entities whose next step is due now.", value=figures.due
            ),
            GaugeMetricFamily(
                "billsync_queue_lag_seconds",
                "How long the oldest due entity has waited for a worker.",
                value=max(0.0, now - oldest) if oldest is not None else 0.0,
            ),
            GaugeMetricFamily(
                "billsync_dead_letters_stored",
                "Dead letters kept in the store and not replayed.",
                value=figures.dead_letters,
            ),
        ]


class QueueCollector(Collector):
    """Ready and unacked messages and consumers of every billsync queue, from the broker."""

    def __init__(
        self,
        broker_url: str,
        topology: Topology,
        metrics: Metrics,
        management_url: str | None = None,
        ttl_s: float = QUEUE_TTL_S,
    ) -> None:
        self.broker_url, self.topology, self.management_url = broker_url, topology, management_url
        self._cache = _Cached(self._read, ttl_s, "broker", metrics)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self._cache.get()

    def _read(self) -> list[Metric]:
        from adapters.broker.inspect import queue_figures

        messages = GaugeMetricFamily(
            "billsync_queue_messages", "Messages in a queue.", labels=["queue", "status"]
        )
        consumers = GaugeMetricFamily(
            "billsync_queue_consumers", "Consumers of a queue.", labels=["queue"]
        )
        for queue in queue_figures(self.broker_url, self.topology, self.management_url):
            messages.add_metric([queue.name, "ready"], queue.ready)
            if queue.unacked is not None:
                messages.add_metric([queue.name, "unacked"], queue.unacked)
            consumers.add_metric([queue.name], queue.consumers)
        return [messages, consumers]


class ApiCollector(Collector):
    """Logins to LogiSense and the Salesforce org's API usage as its last answer reported it.
    (Each call is counted and timed as it happens: ``Metrics.observe_call``.)"""

    def __init__(self, logisense: Any = None, salesforce: Any = None) -> None:
        self.logisense, self.salesforce = logisense, salesforce

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        logins = CounterMetricFamily(
            "billsync_api_logins", "Logins to an outside system.", labels=["system"]
        )
        if self.logisense is not None:
            logins.add_metric(["logisense"], self.logisense.login_count)
        yield logins
        if self.salesforce is not None:
            yield from _salesforce_usage(self.salesforce)


def _salesforce_usage(salesforce: Any) -> list[Metric]:
    """The org's daily API usage from the last ``Sforce-Limit-Info`` header, and the pacing."""
    usage, pacer = getattr(salesforce, "api_usage", None), getattr(salesforce, "pacer", None)
    if usage is None or pacer is None:
        return []
    found: list[Metric] = [
        _counter(
            "billsync_salesforce_paced_seconds",
            "Seconds non-urgent Salesforce reads waited for the daily API limit.",
            pacer.slept_s,
        )
    ]
    if usage.used is not None and usage.limit:
        requests = GaugeMetricFamily(
            "billsync_salesforce_api_requests",
            "Salesforce daily API requests (Sforce-Limit-Info): used and limit.",
            labels=["figure"],
        )
        requests.add_metric(["used"], usage.used)
        requests.add_metric(["limit"], usage.limit)
        share = GaugeMetricFamily(
            "billsync_salesforce_api_usage_ratio", "Share of the Salesforce daily API limit used."
        )
        share.add_metric([], usage.used / usage.limit)
        found += [requests, share]
    return found


class WorkerCollector(Collector):
    """A worker's own counters: consumed, dead-lettered, processed, backlog; and the retries and
    failures it recorded in the history (read incrementally, so they are this process's)."""

    def __init__(self, service: WorkerService, metrics: Metrics) -> None:
        self.service = service
        self.metrics = metrics
        self._retries: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        with service.ctx.sessions() as session:
            self._last_id = last_transition_id(session)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        service = self.service
        yield _counter(
            "billsync_messages_consumed",
            "Messages taken off the work queue.",
            service.consumer.consumed,
        )
        yield _counter(
            "billsync_dead_letters",
            "Messages this worker dead-lettered.",
            service.consumer.dead_lettered,
        )
        yield _counter(
            "billsync_dead_letters_archived",
            "Dead letters moved into the store.",
            service.archiver.archived,
        )
        yield _counter(
            "billsync_dead_letters_dropped",
            "Dead letters the broker dropped because its dead-letter queue was full.",
            service.archiver.dropped,
        )
        yield GaugeMetricFamily(
            "billsync_store_unavailable",
            "1 while this worker's consumer waits for the store to come back.",
            value=1 if service.consumer.store_down_since is not None else 0,
        )
        yield _counter(
            "billsync_entities_processed",
            "Entity advances run by this worker.",
            service.pool.processed,
        )
        yield GaugeMetricFamily(
            "billsync_work_backlog",
            "Entities handed to the pool, not started.",
            value=service.pool.backlog(),
        )
        yield from self._history()

    def _history(self) -> Iterator[Metric]:
        with self._lock:
            try:
                self._read_history()
            except Exception as exc:
                log.warning("metrics: history unreadable (%s)", type(exc).__name__)
                self.metrics.scrape_errors.labels("store").inc()
            retries = CounterMetricFamily(
                "billsync_retries", "Retries this worker scheduled.", labels=["object"]
            )
            failures = CounterMetricFamily(
                "billsync_failures", "Entities this worker moved to failed.", labels=["object"]
            )
            for object_name, count in sorted(self._retries.items()):
                retries.add_metric([object_name], count)
            for object_name, count in sorted(self._failures.items()):
                failures.add_metric([object_name], count)
        yield retries
        yield failures

    def _read_history(self) -> None:
        with self.service.ctx.sessions() as session:
            rows = transitions_after(session, self._last_id, self.service.ctx.worker_id)
        for row_id, trigger, to_state, object_name in rows:
            self._last_id = max(self._last_id, int(row_id))
            if trigger == "retry-scheduled":
                self._retries[object_name] = self._retries.get(object_name, 0) + 1
            elif to_state == FAILED and trigger in ("fail", "reject"):
                self._failures[object_name] = self._failures.get(object_name, 0) + 1


class IngestCollector(Collector):
    """The streaming producer's counters (``IngestMetrics``) and its commit→confirm lag."""

    def __init__(self, ingest: StreamIngest) -> None:
        self.ingest = ingest

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        figures = self.ingest.metrics.as_dict()
        lag = GaugeMetricFamily(
            "billsync_ingest_lag_seconds",
            "Salesforce commit to broker confirm over recent events, by percentile (p50, p99).",
            labels=["percentile"],
        )
        for name, value in figures.items():
            if name.startswith("lag_"):
                percentile = "p50" if "p50" in name else "p99"
                if value is not None:
                    lag.add_metric([percentile], value / 1000)
            elif value is not None:
                yield _counter(
                    f"billsync_ingest_{name}", f"Ingest: {name.replace('_', ' ')}.", value
                )
        yield lag


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
