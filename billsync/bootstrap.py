"""The composition root: turns settings into the parts a command runs with. Nothing connects at
import time; everything is built here, once, when a command starts."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from adapters.salesforce.rest import SalesforceClient
from adapters.store import leases
from adapters.store.connect import require_existing, store_errors
from adapters.store.db import Sessions, make_engine, migrate, session_factory
from billsync import clients
from billsync.config import DEFAULT_AMQP_URL, Settings
from billsync.errors import ConfigError
from statemachine.fieldmap import FieldMap
from statemachine.lifecycle import RetryPolicy
from workers.catalog.sync import CatalogScheduler, CatalogSync
from workers.ingest.push import BrokerSender, PushDesk, PushEndpoint, PushServer
from workers.ingest.stream import StreamIngest, StreamOptions
from workers.sync.context import DatabaseClock, ReferenceCache, SyncContext
from workers.sync.retries import BreakerCollector, CircuitBreaker, GuardedClient
from workers.sync.service import Periodic, WorkerService


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
    logisense: Any = GuardedClient(clients.logisense_client(settings), breakers["logisense"])
    salesforce: Any = (
        GuardedClient(clients.salesforce_client(settings), breakers["salesforce"])
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
    ctx = sync_context(settings, sessions)
    return WorkerService(
        ctx=ctx,
        broker_url=settings.broker_url_or(default_broker),
        topology=clients.topology(settings),
        concurrency=settings.worker_concurrency,
        prefetch=settings.prefetch,
        max_message_bytes=settings.max_message_bytes,
        sweep_interval_s=settings.sweep_interval_s,
        batch_size=settings.batch_size,
        poison_limit=max(1, settings.delivery_limit - 2),
        beside=_catalog_schedule(ctx, settings.catalog_interval_s),
        observe=partial(
            _worker_metrics,
            port=settings.metrics_port,
            host=settings.metrics_host,
            store_gauges=settings.store_metrics,
        ),
        tls=clients.broker_tls(settings),
        heartbeat_s=settings.broker_heartbeat_s,
        fault_exit_on_record=settings.fault_exit_on_record,
    )


def stream_ingest(
    settings: Settings,
    *,
    sessions: Sessions | None = None,
    salesforce: SalesforceClient | None = None,
    broker_url: str | None = None,
    **tuning: Any,
) -> StreamIngest:
    """A ready-to-run ``billsync ingest`` (``tuning``: the ingest's window and intervals)."""
    settings.require("sf_instance_url")
    assert settings.sf_instance_url
    return StreamIngest(
        sessions or open_store(settings, pool_size=2),
        salesforce or clients.salesforce_client(settings),
        broker_url or settings.broker_url_or(DEFAULT_AMQP_URL),
        stream=StreamOptions(
            channels=tuple(settings.sf_channels),
            instance_url=settings.sf_instance_url,
            api_version=settings.sf_api_version,
            call_client=settings.sf_call_client,
            retention_hours=settings.sf_retention_hours,
            lease_ttl_s=settings.ingest_lease_s,
        ),
        topology=clients.topology(settings),
        field_map=FieldMap.load(settings.field_map_file),
        tls=clients.broker_tls(settings),
        **tuning,
    )


def _catalog_schedule(ctx: SyncContext, interval_s: float) -> list[Periodic]:
    """The periodic catalog sync inside the worker, when one is configured."""
    if interval_s <= 0 or ctx.salesforce is None:
        return []
    catalog = CatalogSync(ctx.logisense, ctx.salesforce, pricebook_name=ctx.pricebook_name)
    return [
        CatalogScheduler(
            catalog, interval_s, on_synced=lambda _summary: ctx.references.invalidate()
        )
    ]


def _worker_metrics(
    service: WorkerService, *, port: int, host: str, store_gauges: bool
) -> Callable[[], None]:
    """Attach the worker's metrics; serve them when a port is configured. Returns the stop."""
    from billsync.metrics import instrument_worker, start_metrics_server

    metrics = instrument_worker(service, store_gauges=store_gauges)
    if service.ctx.breakers:
        metrics.watch(BreakerCollector(service.ctx.breakers))
    if not port:
        return lambda: None
    return start_metrics_server(port, metrics, addr=host).stop


def push_server(
    settings: Settings,
    salesforce: SalesforceClient,
    *,
    host: str | None = None,
    port: int | None = None,
) -> tuple[PushServer, BrokerSender]:
    """The push endpoint (not started) and the sender it enqueues with (closed by the caller)."""
    if settings.push_token is None:
        raise ConfigError("the push endpoint needs BILLSYNC_PUSH_TOKEN (a long random secret)")
    url = settings.broker_url_or(DEFAULT_AMQP_URL)
    sender = BrokerSender(url, clients.topology(settings), tls=clients.broker_tls(settings))
    endpoint = PushEndpoint(
        PushDesk(salesforce, sender.send), settings.push_token.get_secret_value()
    )
    server = PushServer(
        endpoint,
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
    )
    return server, sender


def ingest_metrics(
    settings: Settings, ingest: StreamIngest, sessions: Sessions
) -> Callable[[], None]:
    """Serve the ingest's metrics when a port is configured. Returns the stop."""
    if not settings.metrics_port:
        return lambda: None
    from billsync.metrics import instrument_ingest, start_metrics_server

    metrics = instrument_ingest(ingest, sessions=sessions)
    return start_metrics_server(settings.metrics_port, metrics, addr=settings.metrics_host).stop
