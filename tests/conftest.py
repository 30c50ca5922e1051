"""Shared fixtures: real services when they are there (and required when CI=true), simulators,
a worker wired exactly as ``billsync worker`` wires one, and the CLI run as an operator runs it."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

CI = os.environ.get("CI") == "true"
RABBITMQ_URL = os.environ.get("BILLSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_ADMIN_URL = os.environ.get(
    "BILLSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LS_USER, LS_PASSWORD, LS_CLIENT = "billsync", "ls-Secret-7731", "billsync-client"
SF_CLIENT, SF_SECRET = "billsync-sf", "sf-Secret-4482"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is absent locally; fail when CI=true (it must be there)."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if CI:
        pytest.fail(message + " (CI=true: integration tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The RabbitMQ URL, or skip/fail."""
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the PostgreSQL server, or skip/fail."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_ADMIN_URL


def new_postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh, empty database and the function that drops it."""
    import psycopg

    name = f"billsync_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


@pytest.fixture(scope="session")
def logisense_sim() -> Iterator[Any]:
    """One LogiSense simulator for the session (tests reset it)."""
    from simulators.logisense import LogiSenseSimulator

    with LogiSenseSimulator(username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT) as sim:
        yield sim


@pytest.fixture
def logisense(logisense_sim: Any) -> Any:
    """The LogiSense simulator, reset to its seed."""
    logisense_sim.reset()
    return logisense_sim


@contextmanager
def salesforce_sim() -> Iterator[Any]:
    """A started HTTPS Salesforce simulator for billsync's Connected App, long polls of 2 s."""
    from simulators.salesforce import SalesforceSimulator

    with SalesforceSimulator(
        client_id=SF_CLIENT, client_secret=SF_SECRET, longpoll_timeout_s=2.0
    ) as sim:
        yield sim


@dataclass(frozen=True)
class Backend:
    """Where a test's messages and store live."""

    name: str
    broker_url: str
    database_url: str
    prefix: str


def embedded_backend(tmp_path: Any) -> Backend:
    """The embedded default: an in-memory broker and SQLite, under a scratch prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return Backend("embedded", f"memory://{prefix}", f"sqlite:///{tmp_path}/store.db", prefix)


@pytest.fixture(params=["embedded", "rabbitmq-postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    """The embedded default (in-memory broker, SQLite) and the production pair."""
    if request.param == "embedded":
        yield embedded_backend(tmp_path)
        return
    prefix = f"t{uuid.uuid4().hex[:8]}"
    amqp = request.getfixturevalue("rabbitmq_url")
    admin = request.getfixturevalue("postgres_server")
    url, drop = new_postgres_database(admin)
    try:
        yield Backend("rabbitmq-postgres", amqp, url, prefix)
    finally:
        _delete_queues(amqp, prefix)
        drop()


def _delete_queues(url: str, prefix: str) -> None:
    import kombu

    with kombu.Connection(url) as conn:
        channel = conn.channel()
        for queue in (f"{prefix}.changes", f"{prefix}.dead", f"{prefix}.dropped"):
            try:
                channel.queue_delete(queue)
            except Exception:
                channel = conn.channel()
        for exchange in (prefix, f"{prefix}.dlx", f"{prefix}.dropped"):
            try:
                channel.exchange_delete(exchange)
            except Exception:
                channel = conn.channel()


def settings_for(backend: Backend, logisense: Any, **overrides: Any) -> Any:
    """Settings pointing at the backend and the LogiSense simulator."""
    from billsync.config import load_settings

    values: dict[str, Any] = {
        "broker_url": backend.broker_url,
        "database_url": backend.database_url,
        "queue_prefix": backend.prefix,
        "ls_base_url": logisense.base_url,
        "ls_username": LS_USER,
        "ls_password": LS_PASSWORD,
        "ls_client_id": LS_CLIENT,
        "worker_concurrency": 4,
        "sweep_interval_s": 0.2,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.5,
        "http_timeout_s": 5.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def run_worker(backend: Backend, logisense: Any) -> Iterator[Callable[..., Any]]:
    """Start a worker service (in this process) with optional setting overrides."""
    from billsync.bootstrap import worker_service

    services: list[Any] = []

    def start(**overrides: Any) -> Any:
        service = worker_service(settings_for(backend, logisense, **overrides))
        service.start()
        assert service.consumer.ready.wait(15), "consumer did not start"
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop(timeout=10)


@pytest.fixture
def publish(backend: Backend) -> Callable[[list[Any]], int]:
    """Enqueue billsync messages through the producer API."""
    from adapters.broker.publisher import publish_messages
    from adapters.broker.topology import Topology

    def send(messages: list[Any]) -> int:
        return publish_messages(backend.broker_url, Topology(prefix=backend.prefix), messages)

    return send


def logisense_env(logisense: Any) -> dict[str, str]:
    """The ``BILLSYNC_LS_*`` variables for the LogiSense simulator."""
    return {
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
    }


def sf_settings(sim: Any) -> dict[str, Any]:
    """The settings that let a worker (or the backfill) read the Salesforce simulator."""
    return {
        "sf_instance_url": sim.base_url,
        "sf_client_id": SF_CLIENT,
        "sf_client_secret": SF_SECRET,
        "sf_ca_bundle": sim.ca_file,
    }


def salesforce_env(sim: Any) -> dict[str, str]:
    """The ``BILLSYNC_SF_*`` variables for the Salesforce simulator (client credentials, its CA)."""
    return {f"BILLSYNC_{name.upper()}": value for name, value in sf_settings(sim).items()}


def backend_env(backend: Backend) -> dict[str, str]:
    """The ``BILLSYNC_*`` variables that name the broker, the store and the queue prefix."""
    return {
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
    }


def cli_env(backend: Backend, logisense: Any) -> dict[str, str]:
    """The ``BILLSYNC_*`` variables an operator exports for a deployment on ``backend``; wide
    enough that rich folds no table cell (names, reasons) in captured output."""
    return {**backend_env(backend), **logisense_env(logisense), "COLUMNS": "400"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the test runner's logging set-up back after a command reconfigured it (the CLI's root
    callback does)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("pika", "kombu", "urllib3", "amqp")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.fixture
def cli(backend: Backend, logisense: Any, restore_logging: None) -> Callable[..., Result]:
    """Run ``billsync <args>`` in this process against the test's backend and LogiSense
    simulator (``input``: what is typed at its prompts; other keywords: more variables)."""
    from billsync.cli import app

    env = cli_env(backend, logisense)

    def run(*args: str, input: str | None = None, **extra_env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env}, input=input)

    return run


def wait_until(predicate: Callable[[], Any], *, timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)
