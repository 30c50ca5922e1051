"""A worker process: the consumer, the sync pool with its sweeper, and the dead-letter archiver,
each on its own thread, stopped together."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from adapters.broker.connections import BrokerTls
from adapters.broker.topology import Topology
from workers.ops.deadletters import DeadLetterArchiver
from workers.sync.completion import CompletingIntake, completion_for
from workers.sync.consumer import ChangeConsumer
from workers.sync.context import SyncContext
from workers.sync.engine import SyncEngine
from workers.sync.outcomes import route_to_logging_unless_configured
from workers.sync.pool import WorkPool
from workers.sync.retries import BreakerCollector

log = logging.getLogger("billsync.worker")


@dataclass
class WorkerService:
    """Everything one ``billsync worker`` runs."""

    ctx: SyncContext
    broker_url: str
    topology: Topology
    concurrency: int
    prefetch: int
    max_message_bytes: int
    sweep_interval_s: float = 0.5
    batch_size: int = 1
    poison_limit: int = 3
    catalog_interval_s: float = 0.0
    metrics_port: int = 0
    store_metrics: bool = False
    metrics_host: str = "127.0.0.1"
    tls: BrokerTls | None = None
    heartbeat_s: int = 20
    fault_exit_on_record: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.engine = SyncEngine(self.ctx, writers=self.concurrency)
        self.pool = WorkPool(
            self.engine,
            concurrency=self.concurrency,
            sweep_interval_s=self.sweep_interval_s,
            batch_size=self.batch_size,
        )
        self.intake = CompletingIntake(
            self.ctx.sessions,
            self.ctx.field_map,
            worker_id=self.ctx.worker_id,
            clock=self.ctx.clock,
            coalesce_s=self.ctx.coalesce_s,
            completion=completion_for(self.ctx.sessions, self.ctx.salesforce, self.ctx.field_map),
        )
        self.consumer = ChangeConsumer(
            self.broker_url,
            self.topology,
            self.intake,
            self.ctx.sessions,
            self.pool.submit,
            prefetch=self.prefetch,
            max_message_bytes=self.max_message_bytes,
            poison_limit=self.poison_limit,
            exit_on_record=self.fault_exit_on_record,
            heartbeat=self.heartbeat_s,
            tls=self.tls,
        )
        self.archiver = DeadLetterArchiver(
            self.broker_url,
            self.topology,
            self.ctx.sessions,
            max_message_bytes=self.max_message_bytes,
            heartbeat=self.heartbeat_s,
            tls=self.tls,
        )
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start every thread; returns at once."""
        from billsync.metrics import instrument_worker, start_metrics_server

        route_to_logging_unless_configured()
        self.metrics = instrument_worker(self)
        if self.ctx.breakers:
            self.metrics.watch(BreakerCollector(self.ctx.breakers))
        self.metrics_server = (
            start_metrics_server(self.metrics_port, self.metrics, addr=self.metrics_host)
            if self.metrics_port
            else None
        )
        self.pool.start()
        for name, target in (("consumer", self.consumer.run), ("dead-letters", self.archiver.run)):
            thread = threading.Thread(
                target=target, args=(self.stop_event,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.catalog_interval_s > 0 and self.ctx.salesforce is not None:
            from workers.catalog.sync import CatalogScheduler, CatalogSync

            scheduler = CatalogScheduler(
                CatalogSync(
                    self.ctx.logisense, self.ctx.salesforce, pricebook_name=self.ctx.pricebook_name
                ),
                self.catalog_interval_s,
                on_synced=lambda _summary: self.ctx.references.invalidate(),
            )
            self._threads.append(scheduler.start(self.stop_event))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming, let running syncs finish, then stop the pool."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self.pool.stop(timeout=timeout)
        server = getattr(self, "metrics_server", None)
        if server is not None:
            server.stop()
