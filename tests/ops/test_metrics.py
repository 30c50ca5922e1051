"""The Prometheus endpoint: a worker's and the ingest's figures scraped over HTTP after a short
run with a bad message, an entity that fails a rule and LogiSense errors that cause retries;
``promtool check metrics`` clean on both; ``/healthz`` and ``/readyz`` beside them; the
store-derived gauges only where asked for."""

from __future__ import annotations

import platform
from importlib.metadata import version
from typing import Any

import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from billsync.health import http_probe
from billsync.metrics import Metrics, instrument_worker, start_metrics_server
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id, contact, contact_id
from tests.ingest.conftest import new_account, rep, run_ingest, salesforce
from tests.ops.tools import assert_clean_metrics

__all__ = ["rep", "run_ingest", "salesforce"]  # fixtures used here


def _text(port: int) -> str:
    answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert answer.status_code == 200
    return answer.text


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(_text(port)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_worker_metrics_are_served_over_http(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    service = run_worker()
    metrics = instrument_worker(service, Metrics(CollectorRegistry()), store_gauges=True)
    server = start_metrics_server(0, metrics, addr="127.0.0.1")
    try:
        publish([account(1), account(2, CurrencyIsoCode=None), contact(1, 1)])
        publisher = open_publisher(backend.broker_url, Topology(prefix=backend.prefix))
        publisher.publish(b"{not json", routing_key=Topology(prefix=backend.prefix).routing_key)
        publisher.close()
        store = Store(backend.database_url)
        wait_until(
            lambda: store.settled([account_id(1), account_id(2), contact_id(1)]),
            what="first entities settled",
        )
        logisense.faults.error_rate = 1.0
        publish([account(3)])
        wait_until(
            lambda: (
                account_id(3) in store.states()
                and any(h.trigger == "retry-scheduled" for h in store.history(account_id(3)))
            ),
            what="a retry",
        )
        logisense.faults.error_rate = 0.0
        wait_until(lambda: store.settled([account_id(3)], ("pushed",)), what="account 3 pushed")

        def scraped() -> Any:
            samples = _scrape(server.port)
            done = _value(samples, "billsync_entities", object="Account", state="pushed") == 2
            return samples if done and _value(samples, "billsync_dead_letters_total") == 1 else None

        samples = wait_until(scraped, timeout=10, what="metrics to catch up")
        assert _value(samples, "billsync_entities", object="Account", state="failed") == 1
        assert _value(samples, "billsync_entities", object="Contact", state="pushed") == 1
        assert _value(samples, "billsync_entities", object="Account", state="pending") == 0
        assert _value(samples, "billsync_push_latency_seconds_count", object="Account") == 2
        assert _value(samples, "billsync_push_latency_seconds_count", object="Contact") == 1
        assert _value(samples, "billsync_retries_total", object="Account") >= 1
        assert _value(samples, "billsync_failures_total", object="Account") == 1
        post = {"system": "logisense", "operation": "POST Account"}
        assert _value(samples, "billsync_api_calls_total", **post, outcome="ok") >= 2
        errors = [
            value
            for (name, labels), value in samples.items()
            if name == "billsync_api_calls_total" and ("outcome", "server_error") in labels
        ]
        assert sum(errors) >= 1
        assert _value(samples, "billsync_api_call_duration_seconds_count", **post) >= 2
        assert (
            _value(
                samples,
                "billsync_build_info",
                version=version("billsync"),
                python=platform.python_version(),
            )
            == 1
        )
        assert _value(samples, "process_cpu_seconds_total") > 0
        assert ("python_info", ()) in {(k[0], ()) for k in samples}
        assert _value(samples, "billsync_api_logins_total", system="logisense") >= 1
        assert _value(samples, "billsync_messages_consumed_total") == 5
        assert ("billsync_queue_lag_seconds", ()) in samples
        assert ("billsync_entities_due", ()) in samples
        work_queue = Topology(prefix=backend.prefix).work_queue_name
        assert ("billsync_queue_messages", (("queue", work_queue), ("status", "ready"))) in samples
        assert _value(samples, "billsync_scrape_errors_total", source="store") == 0
        assert_clean_metrics(_text(server.port))
        alive = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        assert alive.status_code == 200 and alive.json() == {"status": "alive"}
        ready = requests.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        server.stop()


def test_store_gauges_only_where_asked_and_readyz_names_what_fails(
    backend: Any, logisense: Any, run_worker: Any
) -> None:
    service = run_worker()
    metrics = instrument_worker(service, Metrics(CollectorRegistry()))
    metrics.readiness.probes["logisense"] = http_probe("http://127.0.0.1:1")
    server = start_metrics_server(0, metrics, addr="127.0.0.1")
    try:
        samples = _scrape(server.port)
        store_gauges = {"billsync_entities", "billsync_entities_due", "billsync_queue_lag_seconds"}
        assert not store_gauges & {name for name, _ in samples}
        assert ("billsync_messages_consumed_total", ()) in samples
        unready = requests.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10)
        assert unready.status_code == 503
        assert unready.json()["failing"] == {"logisense": "Connection refused"}
        assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).ok
    finally:
        server.stop()


def test_ingest_metrics_pass_promtool(
    backend: Any, logisense: Any, salesforce: Any, run_ingest: Any, rep: Any
) -> None:
    from billsync.bootstrap import open_store
    from billsync.config import load_settings
    from billsync.metrics import instrument_ingest

    ingest = run_ingest()
    new_account(rep, "Metrics Inc")
    wait_until(lambda: ingest.metrics.messages_confirmed >= 1, what="a confirmed publish")
    sessions = open_store(load_settings(database_url=backend.database_url), pool_size=1)
    metrics = instrument_ingest(ingest, Metrics(CollectorRegistry()), sessions=sessions)
    server = start_metrics_server(0, metrics, addr="127.0.0.1")
    try:
        samples = _scrape(server.port)
        assert _value(samples, "billsync_ingest_lag_seconds", percentile="p99") > 0
        assert _value(samples, "billsync_ingest_messages_confirmed_total") >= 1
        assert_clean_metrics(_text(server.port))
        assert requests.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10).ok
    finally:
        server.stop()


def test_registries_are_independent() -> None:
    first, second = Metrics(), Metrics()
    first.push_latency.labels("Account").observe(0.2)
    assert (
        first.registry.get_sample_value(
            "billsync_push_latency_seconds_count", {"object": "Account"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "billsync_push_latency_seconds_count", {"object": "Account"}
        )
        is None
    )
