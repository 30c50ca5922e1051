"""Fixtures for the operator tests: the embedded backend only (fast), and the CLI run in-process
with the settings given as ``BILLSYNC_*`` variables, logging restored afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, Backend


@pytest.fixture(params=["embedded"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    """Operator tests run on the embedded default: in-memory broker and SQLite."""
    import uuid

    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield Backend("embedded", f"memory://{prefix}", f"sqlite:///{tmp_path}/store.db", prefix)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI's root callback reconfigures logging; put the test runner's set-up back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli(backend: Backend, logisense: Any, restore_logging: None) -> Callable[..., Result]:
    """Run ``billsync <args>`` against the test's backend and LogiSense simulator."""
    from billsync.cli import app

    env = {
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
    }

    def run(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env})

    return run
