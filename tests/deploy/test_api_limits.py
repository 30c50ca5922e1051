"""Salesforce's daily API limit (issue 13, acceptance 4): near a low simulated limit non-urgent
reads slow down and the metric shows the usage; at the limit entities wait, they never fail."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from adapters.salesforce.limits import ReadPacer, parse_limit_info
from billsync.messages import push_request
from billsync.metrics_collectors import ApiCollector
from tests.catalog.rep import Rep, salesforce_client
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.opportunities.conftest import rep, sf_sim, sync_worker  # noqa: F401 (fixtures)
from tests.opportunities.test_push import internet, plans, synced_account

pytestmark = pytest.mark.timeout(120)


def test_limit_info_is_parsed_from_every_form() -> None:
    assert parse_limit_info("api-usage=18/15000") == (18, 15000)
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=sample)") == (
        25,
        5000,
    )
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None
    assert parse_limit_info(None) is None


def test_non_urgent_reads_slow_as_usage_nears_the_limit_and_the_metric_shows_it(
    rep: Rep,  # noqa: F811
) -> None:
    original = rep.admin("api-usage", {})["limit"]
    rep.admin("api-usage", {"used": 70, "limit": 100})
    try:
        _paced_reads(rep)
    finally:
        rep.admin("api-usage", {"used": 0, "limit": original})


def _paced_reads(rep: Rep) -> None:  # noqa: F811
    client = salesforce_client(rep.sim)
    slept: list[float] = []
    client.pacer = ReadPacer(client.api_usage, slow_share=0.8, max_delay_s=2.0, sleep=slept.append)
    delays = []
    for _ in range(30):  # a backfill's reads: pace, then read one page
        delays.append(client.pace_non_urgent())
        client.query_all("SELECT Id FROM Pricebook2")
    used = client.api_usage.used
    assert used is not None and 80 < used <= 100 and client.api_usage.limit == 100
    assert delays[0] == 0.0  # far from the limit: no wait
    waits = [d for d in delays if d > 0]
    assert waits and waits == sorted(waits)  # the nearer the limit, the longer the wait
    assert slept == waits and max(waits) <= 2.0

    registry = CollectorRegistry()
    registry.register(ApiCollector(salesforce=client))
    text = generate_latest(registry).decode()
    assert f'billsync_salesforce_api_requests{{figure="used"}} {float(used)}' in text
    assert 'billsync_salesforce_api_requests{figure="limit"} 100.0' in text
    assert f"billsync_salesforce_api_usage_ratio {used / 100}" in text
    assert f"billsync_salesforce_paced_seconds_total {sum(waits)}" in text


def test_at_the_limit_entities_wait_and_push_once_calls_free_up(
    backend: Any,
    logisense: Any,
    rep: Rep,  # noqa: F811
    sync_worker: Any,  # noqa: F811
    publish: Any,
) -> None:
    sync_worker(backoff_cap_s=0.5)
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish)
    opp = rep.opportunity(account, [internet()])
    publish([push_request(opp)])  # known and whole from here on: the next push reads line items
    wait_until(lambda: store.settled([opp], ("pushed",)), what="first push")
    plan_count = len(plans(logisense))
    limit = rep.admin("api-usage", {})["limit"]
    rep.admin("api-usage", {"used": limit})
    publish([push_request(opp)])

    def quota_waits() -> int:
        return sum(h.trigger == "quota-wait" for h in store.history(opp))

    wait_until(lambda: quota_waits() >= 3, what="three quota waits")
    waiting = store.record(opp)
    assert waiting.state == "pending" and waiting.attempts == 0
    assert "REQUEST_LIMIT_EXCEEDED" in (waiting.last_error or "")

    rep.admin("api-usage", {"used": 0})
    wait_until(lambda: store.settled([opp], ("pushed",)), what="pushed after the limit")
    assert store.record(opp).state == "pushed"
    assert len(plans(logisense)) == plan_count  # the same plan, updated
    assert all(h.to_state != "failed" for h in store.history(opp))


def test_at_the_limit_a_record_never_seen_waits_on_the_broker_and_is_pushed_after(
    backend: Any,
    logisense: Any,
    rep: Rep,  # noqa: F811
    sync_worker: Any,  # noqa: F811
    publish: Any,
) -> None:
    """A push request for an opportunity billsync never saw needs one read to complete it; at
    the limit that read waits (the message stays on the broker), and nothing fails."""
    sync_worker(backoff_cap_s=0.5)
    store = Store(backend.database_url)
    account = synced_account(rep, store, publish)
    opp = rep.opportunity(account, [internet()])
    limit = rep.admin("api-usage", {})["limit"]
    rep.admin("api-usage", {"used": limit})
    publish([push_request(opp)])
    time.sleep(3)  # several completion attempts meet the limit meanwhile
    assert opp not in store.states() and opp not in plans(logisense)

    rep.admin("api-usage", {"used": 0})
    wait_until(lambda: store.settled([opp], ("pushed",)), what="pushed after the limit")
    assert all(h.to_state != "failed" for h in store.history(opp))


def test_the_backfill_reader_slows_as_usage_nears_the_limit(rep: Rep) -> None:  # noqa: F811
    """The backfill's own reader (not a stand-in) waits before its reads near the limit."""
    from statemachine.fieldmap import FieldMap
    from workers.backfill.source import BackfillSource

    original = rep.admin("api-usage", {})["limit"]
    rep.admin("api-usage", {"used": 90, "limit": 100})
    try:
        client = salesforce_client(rep.sim)
        slept: list[float] = []
        client.pacer = ReadPacer(
            client.api_usage, slow_share=0.8, max_delay_s=2.0, sleep=slept.append
        )
        source = BackfillSource(client, FieldMap.load(None))
        source.count("Account")  # learns the usage from the answer's Sforce-Limit-Info
        source.count("Account")
        assert slept and all(0 < s <= 2.0 for s in slept)
    finally:
        rep.admin("api-usage", {"used": 0, "limit": original})
