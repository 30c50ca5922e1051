"""Fixtures of the day-one tests: the ingest fixtures, a worker that can read Salesforce, and a
count of the SOQL reads the simulator served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import sf_settings
from tests.ingest.conftest import (  # noqa: F401  (fixtures)
    rep,
    run_ingest,
    salesforce,
)


def sim_stats(sim: Any) -> dict[str, Any]:
    """``GET /__sim/stats`` over HTTP, as an operator would read it."""
    http = requests.Session()
    http.trust_env = False
    answer = http.get(f"{sim.base_url}/__sim/stats", verify=sim.ca_file, timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def soql_reads(sim: Any) -> int:
    """SOQL queries and their pages served so far (the reads billsync makes)."""
    routes = sim_stats(sim)["routes"]
    return sum(n for route, n in routes.items() if route.startswith("GET /services/data/query"))


@pytest.fixture
def sf_worker(run_worker: Callable[..., Any], salesforce: Any) -> Callable[..., Any]:  # noqa: F811
    """Start a worker wired to read the Salesforce simulator."""

    def start(**overrides: Any) -> Any:
        return run_worker(**{**sf_settings(salesforce), **overrides})

    return start
