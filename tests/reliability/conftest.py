"""The reliability suite's marker: ``pytest -m reliability`` runs only it, ``-m "not reliability"``
leaves it out (it restarts RabbitMQ and PostgreSQL, so nothing else should share its run)."""

from __future__ import annotations

import pytest

from tests.ingest.conftest import run_ingest, salesforce  # noqa: F401  (fixtures used here too)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (pyproject lists the project-wide ones)."""
    config.addinivalue_line(
        "markers", "reliability: breaks the running system (kills, restarts, faults) and checks it"
    )
