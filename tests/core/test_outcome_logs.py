"""A worker facing LogiSense 503s tells each entity's story in JSON lines (issue 14 Acceptance 2):
every retry scheduled with the entity and the reason, then the final outcome."""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.operations.history import states_total


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """structlog rendering JSON into a buffer, for this test only."""
    buffer = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    yield buffer
    structlog.reset_defaults()


def test_retries_and_the_final_outcome_are_json_lines_per_entity(
    json_lines: io.StringIO,
    backend: Any,
    logisense: Any,
    run_worker: Callable[..., Any],
    publish: Callable[..., int],
) -> None:
    count = 5
    store = Store(backend.database_url)
    logisense.faults.update({"error_rate": 1.0, "error_status": 503})
    run_worker(circuit_threshold=1_000_000, backoff_base_s=0.1, backoff_cap_s=0.3)
    publish([account(n) for n in range(1, count + 1)])
    time.sleep(1.5)
    logisense.faults.update({"error_rate": 0.0})
    deadline = time.monotonic() + 30
    while states_total(store)["pushed"] < count:
        assert time.monotonic() < deadline, dict(states_total(store))
        time.sleep(0.2)
    time.sleep(0.3)

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines() if line.strip()]
    stories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if "entity" in line:
            stories[line["entity"]].append(line)
    for n in range(1, count + 1):
        story = stories[account_id(n)]
        retries = [line for line in story if line["event"] == "retry scheduled"]
        assert retries, f"no retry logged for {account_id(n)}: {story}"
        for number, line in enumerate(retries, start=1):
            assert line["object"] == "Account" and line["attempt"] == number
            assert "(503)" in line["reason"] and "next in" in line["reason"]
            assert line["trace_id"] and line["level"] == "info"
        final = story[-1]
        assert final["event"] == "pushed", story
        assert final["attempt"] == 0 and final["reason"]
        assert {line["trace_id"] for line in story} == {final["trace_id"]}
