"""The bounded reliability suite (SPEC §9): each fault, then zero lost, zero duplicated, final
LogiSense state equal to what Salesforce sent, and a reason on every failed entity.

The whole system runs as separate processes (LogiSense simulator, two ``billsync worker``
processes, the producer). Skips locally when RabbitMQ or PostgreSQL is absent and fails when
CI=true; a fault needing a restart tool that is not installed (``rabbitmqctl``, ``pg_ctlcluster``)
skips. The full version is ``scripts/reliability``.
"""

from __future__ import annotations

import shutil

import pytest

from billsync.bench import chaos

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(150),
]

TOOLS = {"rabbitmq-restart": "rabbitmqctl", "postgres-restart": "pg_ctlcluster"}


@pytest.mark.parametrize("name", list(chaos.scenarios(chaos.BOUNDED)))
def test_nothing_lost_or_duplicated(name: str, rabbitmq_url: str, postgres_server: str) -> None:
    """The fault runs during the stream; afterwards LogiSense equals Salesforce."""
    tool = TOOLS.get(name)
    if tool and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here, so {name} cannot run")
    sizes = chaos.BOUNDED
    outcome = chaos.run_scenario(
        name,
        chaos.scenarios(sizes)[name],
        sizes,
        broker_url=rabbitmq_url,
        database_url=postgres_server,
        progress=lambda _text: None,
    )
    assert outcome.error is None, outcome.summary()
    assert outcome.accounts == sizes.accounts
    assert outcome.lost == [], outcome.summary()
    assert outcome.duplicated == [], outcome.summary()
    assert outcome.stale == [], outcome.summary()
    assert outcome.wrong_parent == [], outcome.summary()
    assert outcome.invalid_in_logisense == [], outcome.summary()
    assert outcome.failed_without_reason == [], outcome.summary()
    assert outcome.unexpected_failed == {}, outcome.summary()
