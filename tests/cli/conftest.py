"""The CLI run in-process as an operator runs it, against the test's backend and LogiSense
simulator, with logging put back afterwards (the root callback reconfigures it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, Backend


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the test runner's logging set-up back after a command reconfigured it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("pika", "kombu", "urllib3", "amqp")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def cli_env(backend: Backend, logisense: Any) -> dict[str, str]:
    """The ``BILLSYNC_*`` variables of a deployment on ``backend``."""
    return {
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
        "COLUMNS": "400",
    }


@pytest.fixture
def cli(backend: Backend, logisense: Any, restore_logging: None) -> Callable[..., Result]:
    """Run ``billsync <args>`` against the test's backend and LogiSense simulator."""
    from billsync.cli import app

    env = cli_env(backend, logisense)

    def run(*args: str, input: str | None = None, **extra_env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env}, input=input)

    return run
