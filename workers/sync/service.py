"""A worker process: the consumer, the sync pool with its sweeper, and the dead-letter archiver,
each on its own thread, stopped together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from adapters.broker.connections import BrokerTls
from adapters.broker.topology import Topology
from workers.ops.deadletters import DeadLetterArchiver
from workers.sync.completion import CompletingIntake, completion_for
from workers.sync.consumer import ChangeConsumer
from workers.sync.context import SyncContext
from workers.sync.engine import SyncEngine
from workers.sync.outcomes import route_to_logging_unless_configured
from workers.sync.pool import WorkPool

log = logging.getLogger("billsync.worker")


class Periodic(Protocol):
    """A job run beside the sync on its own thread (``workers.catalog.sync.CatalogScheduler``)."""

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """Start the thread; it ends when ``stop_event`` is set."""
        ...


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
    #: Periodic jobs run beside the sync (the catalog sync), each started with the service.
    beside: list[Periodic] = field(default_factory=list)
    #: Called once at start (the composition root attaches metrics and their server here); what
    #: it returns is called at stop.
    observe: Callable[[WorkerService], Callable[[], None]] | None = None
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
        route_to_logging_unless_configured()
        self._unobserve = self.observe(self) if self.observe else None
        threading.Thread(target=self.ctx.references.warm, name="warm-up", daemon=True).start()
        self.pool.start()
        for name, target in (("consumer", self.consumer.run), ("dead-letters", self.archiver.run)):
            thread = threading.Thread(
                target=target, args=(self.stop_event,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        for job in self.beside:
            self._threads.append(job.start(self.stop_event))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming, let running syncs finish, then stop the pool."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self.pool.stop(timeout=timeout)
        unobserve = getattr(self, "_unobserve", None)
        if unobserve is not None:
            unobserve()
