"""Fixtures for the operator tests: the real ``billsync`` CLI run in-process against the test's
backend (both backends of tests/conftest.py), with logging put back after every command."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kombu
import pytest
from typer.testing import CliRunner, Result

from adapters.broker.topology import Topology
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, Backend

#: Wide enough that rich does not fold table cells (queue names, reasons) in captured output.
COLUMNS = "240"


def backend_env(backend: Backend, logisense: Any) -> dict[str, str]:
    """The ``BILLSYNC_*`` variables an operator would set for this backend."""
    return {
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
        "COLUMNS": COLUMNS,
    }


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    """``billsync <args>`` in this process; the root callback's logging set-up is undone after."""
    from billsync.cli import app

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return CliRunner().invoke(app, list(args), env=env, input=stdin)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture
def cli(backend: Backend, logisense: Any) -> Callable[..., Result]:
    """Run ``billsync <args>`` against the test's backend and LogiSense simulator."""
    env = backend_env(backend, logisense)

    def run(*args: str, stdin: str | None = None, **extra_env: str) -> Result:
        return invoke({**env, **extra_env}, *args, stdin=stdin)

    return run


def publish_raw(url: str, topology: Topology, body: bytes, *, to_dead: bool = False) -> None:
    """Publish one body to the work queue, or straight to the dead-letter exchange."""
    with kombu.Connection(url) as connection:
        producer = connection.Producer()
        exchange = topology.dead_letter_exchange() if to_dead else topology.exchange()
        queue = topology.dead_letter_queue() if to_dead else topology.work_queue()
        producer.publish(
            body,
            exchange=exchange,
            routing_key=topology.dead_letter_queue_name if to_dead else topology.routing_key,
            headers={"x-billsync-reason": "parked by the test"} if to_dead else {},
            content_type="application/json",
            content_encoding="binary",
            declare=[queue],
        )
