"""The composition root: turns settings into the parts a command runs with. Nothing connects at
import time; everything is built here, once, when a command starts."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from adapters.broker.connections import BrokerTls
from adapters.broker.topology import Topology
from adapters.logisense import LogiSenseClient
from adapters.salesforce.rest import SalesforceClient
from adapters.store import leases
from adapters.store.connect import require_existing, store_errors
from adapters.store.db import Sessions, make_engine, migrate, session_factory
from billsync.config import DEFAULT_AMQP_URL, Settings
from statemachine.fieldmap import FieldMap
from statemachine.lifecycle import RetryPolicy
from workers.context import DatabaseClock, ReferenceCache, SyncContext
from workers.retries import CircuitBreaker, GuardedClient
from workers.service import WorkerService


def worker_identity() -> str:
    """host:pid:random, recorded in leases and in the history."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def open_store(settings: Settings, *, pool_size: int = 16, create: bool = True) -> Sessions:
    """Migrate the store to the newest schema and return a session factory. With ``create``
    false (read-only commands) a SQLite file that does not exist is an error, not a new store.
    An unreachable store raises ``TransientError`` naming the redacted URL and the cause."""
    url = settings.database_url
    with store_errors(url):
        if not create:
            require_existing(url)
        migrate(url)
        engine = make_engine(
            url,
            pool_size=pool_size,
            connect_timeout_s=settings.store_connect_timeout_s,
            statement_timeout_s=settings.store_statement_timeout_s,
        )
        return session_factory(engine)


def sync_context(settings: Settings, sessions: Sessions) -> SyncContext:
    """The context every sync step needs: each outside system behind its circuit breaker, the
    retry policy, and the database's clock."""
    breakers = {
        name: CircuitBreaker(
            name,
            threshold=settings.circuit_threshold,
            probe_s=settings.circuit_probe_s,
            probe_cap_s=settings.circuit_probe_cap_s,
            auth_probe_s=settings.login_probe_s,
        )
        for name in ("logisense", "salesforce")
    }
    logisense: Any = GuardedClient(LogiSenseClient.from_settings(settings), breakers["logisense"])
    salesforce: Any = (
        GuardedClient(SalesforceClient.from_settings(settings), breakers["salesforce"])
        if settings.sf_instance_url
        else None
    )

    return SyncContext(
        sessions=sessions,
        logisense=logisense,
        salesforce=salesforce,
        references=ReferenceCache(logisense, ttl_s=settings.reference_ttl_s),
        field_map=FieldMap.load(settings.field_map_file),
        retry=RetryPolicy(
            budget_s=settings.retry_budget_s,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
        ),
        worker_id=worker_identity(),
        lease_s=settings.lease_s,
        pricebook_name=settings.sf_pricebook_name,
        coalesce_s=settings.coalesce_s,
        clock=DatabaseClock(leases.clock_reader(sessions)),
        breakers=breakers,
    )


def worker_service(
    settings: Settings,
    *,
    default_broker: str = DEFAULT_AMQP_URL,
    sessions: Sessions | None = None,
) -> WorkerService:
    """A ready-to-start worker process."""
    sessions = sessions or open_store(settings, pool_size=settings.worker_concurrency + 8)
    return WorkerService(
        ctx=sync_context(settings, sessions),
        broker_url=settings.broker_url_or(default_broker),
        topology=Topology.from_settings(settings),
        concurrency=settings.worker_concurrency,
        prefetch=settings.prefetch,
        max_message_bytes=settings.max_message_bytes,
        sweep_interval_s=settings.sweep_interval_s,
        batch_size=settings.batch_size,
        poison_limit=max(1, settings.delivery_limit - 2),
        catalog_interval_s=settings.catalog_interval_s,
        metrics_port=settings.metrics_port,
        store_metrics=settings.store_metrics,
        metrics_host=settings.metrics_host,
        tls=BrokerTls.from_settings(settings),
        heartbeat_s=settings.broker_heartbeat_s,
        fault_exit_on_record=settings.fault_exit_on_record,
    )
