"""Prometheus metrics for every long-running billsync process (SPEC §8): defined once, here.

Each process builds one ``Metrics`` on its own ``CollectorRegistry`` (never the global one, so
tests and the demo can hold several) and serves it with ``start_metrics_server``. Figures that
live elsewhere are read when Prometheus scrapes, by collectors: state counts and queue lag from
the store (cached for a few seconds), queue depths from the broker, API call counts from the
adapters, the consumer's and the ingest's plain counters. Only the push latency histogram is
observed as it happens. A collector that cannot reach its source skips its figures and counts a
scrape error; a scrape never fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.store.models import DeadLetter, SyncRecord, Transition
from statemachine.machine import ACCOUNT_SYNCED, ACTIVE_STATES, FAILED, PUSHED, STATES

if TYPE_CHECKING:
    from adapters.broker.topology import Topology
    from workers.ingest import StreamIngest
    from workers.service import WorkerService

log = logging.getLogger("billsync.metrics")

#: Push latency buckets (seconds): the p99 target is 0.5 s; retries and outages reach minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300, 1800)
STORE_TTL_S = 2.0
QUEUE_TTL_S = 5.0


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

    def __init__(
        self, sessions: sessionmaker[Session], metrics: Metrics, ttl_s: float = STORE_TTL_S
    ) -> None:
        self.sessions = sessions
        self._cache = _Cached(self._read, ttl_s, "store", metrics)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self._cache.get()

    def _read(self) -> list[Metric]:
        now = time.time()
        entities = GaugeMetricFamily(
            "billsync_entities", "Synced entities per object and state.", labels=["object", "state"]
        )
        with self.sessions() as session:
            counts = session.execute(
                select(SyncRecord.object, SyncRecord.state, func.count()).group_by(
                    SyncRecord.object, SyncRecord.state
                )
            ).all()
            due = and_(
                SyncRecord.state.in_(ACTIVE_STATES),
                SyncRecord.next_attempt_at.is_not(None),
                SyncRecord.next_attempt_at <= now,
            )
            due_count, oldest = session.execute(
                select(func.count(), func.min(SyncRecord.next_attempt_at)).where(due)
            ).one()
            letters = session.scalar(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
            )
        seen: dict[str, dict[str, int]] = {}
        for object_name, state, count in counts:
            seen.setdefault(object_name, dict.fromkeys(STATES, 0))[state] = int(count)
        for object_name, states in sorted(seen.items()):
            for state, count in states.items():
                entities.add_metric([object_name, state], count)
        return [
            entities,
            GaugeMetricFamily(
                "billsync_entities_due", "Entities whose next step is due now.", value=due_count
            ),
            GaugeMetricFamily(
                "billsync_queue_lag_seconds",
                "How long the oldest due entity has waited for a worker.",
                value=max(0.0, now - oldest) if oldest is not None else 0.0,
            ),
            GaugeMetricFamily(
                "billsync_dead_letters_stored",
                "Dead letters kept in the store and not replayed.",
                value=int(letters or 0),
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
    """Calls made to LogiSense (by route) and Salesforce (REST requests) by this process."""

    def __init__(self, logisense: Any = None, salesforce: Any = None) -> None:
        self.logisense, self.salesforce = logisense, salesforce

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            "billsync_api_calls", "Requests sent to an outside system.", labels=["system", "call"]
        )
        logins = CounterMetricFamily(
            "billsync_api_logins", "Logins to an outside system.", labels=["system"]
        )
        if self.logisense is not None:
            for call, count in sorted(dict(self.logisense.call_counts).items()):
                calls.add_metric(["logisense", call], count)
            logins.add_metric(["logisense"], self.logisense.login_count)
        if self.salesforce is not None:
            calls.add_metric(["salesforce", "rest"], self.salesforce.api_calls)
        return [calls, logins]


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
            self._last_id = int(session.scalar(select(func.max(Transition.id))) or 0)

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
            rows = session.execute(
                select(Transition.id, Transition.trigger, Transition.to_state, SyncRecord.object)
                .join(SyncRecord, SyncRecord.id == Transition.record_id)
                .where(
                    Transition.id > self._last_id, Transition.worker == self.service.ctx.worker_id
                )
                .order_by(Transition.id)
            ).all()
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
            "Salesforce commit to broker confirm, recent percentiles.",
            labels=["quantile"],
        )
        for name, value in figures.items():
            if name.startswith("lag_"):
                quantile = "0.5" if "p50" in name else "0.99"
                if value is not None:
                    lag.add_metric([quantile], value / 1000)
            elif value is not None:
                yield _counter(
                    f"billsync_ingest_{name}", f"Ingest: {name.replace('_', ' ')}.", value
                )
        yield lag


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


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
    port: int, registry: CollectorRegistry, *, addr: str = "0.0.0.0"
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
    for object_name, sync in service.engine.syncs.items():
        sync.pushed = _timed_push(sync.pushed, object_name, metrics, ctx.clock)  # type: ignore[method-assign]
    return metrics


def instrument_ingest(ingest: StreamIngest, metrics: Metrics | None = None) -> Metrics:
    """Attach billsync's metrics to the streaming producer."""
    metrics = metrics or Metrics()
    metrics.watch(IngestCollector(ingest))
    metrics.watch(ApiCollector(salesforce=ingest.salesforce))
    return metrics


def _timed_push(
    pushed: Callable[..., None], object_name: str, metrics: Metrics, clock: Callable[[], float]
) -> Callable[..., None]:
    """``pushed`` that also observes commit→write latency when the entity really reached pushed."""
    histogram = metrics.push_latency.labels(object_name)

    def timed(session: Session, record: SyncRecord, plan: Any, reason: str) -> None:
        before = record.state
        pushed(session, record, plan, reason)
        if before == ACCOUNT_SYNCED and record.state == PUSHED:
            origin = origin_ms(record)
            if origin:
                histogram.observe(max(0.0, clock() - origin / 1000))

    return timed


def origin_ms(record: SyncRecord) -> int:
    """When the newest Salesforce event the push carries happened: a field's commit timestamp,
    or the push request (opportunities); 0 when unknown."""
    stamps = [int(s[0]) for s in (record.stamps or {}).values() if s]
    return max([*stamps, int(record.push_requested_at or 0)], default=0)
