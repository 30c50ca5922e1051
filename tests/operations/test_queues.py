"""``billsync queues`` through the real CLI (issue 6 acceptance 6): every billsync queue with
ready, unacked, consumers, rates and the dead letters kept, as a table and as JSON, from the
management API and, with it out of reach, from passive declares; and on the embedded broker."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kombu
import pika
import pytest
import requests
from typer.testing import Result

from adapters.broker.topology import Topology
from adapters.broker.urls import management_url, pika_parameters
from tests.conftest import Backend, wait_until
from tests.factories import account
from tests.operations.conftest import publish_raw
from tests.operations.history import wait_for_dead_letters

CLOSED_MANAGEMENT = "http://guest:guest@127.0.0.1:1"
GOOD, HELD, PARKED, KEPT = 5, 2, 1, 2


def require_management(broker_url: str) -> None:
    """Skip without the management plugin locally; in CI it must be enabled."""
    try:
        answer = requests.get(f"{management_url(broker_url)}/api/overview", timeout=3)
        if answer.status_code == 200:
            return
    except requests.RequestException:
        pass
    message = "the RabbitMQ management plugin is not answering (run scripts/rabbitmq-setup)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def busy_queues(
    backend: Backend,
    run_worker: Callable[..., Any],
    publish: Callable[..., int],
) -> Iterator[Topology]:
    """Queues with something in every column.

    A worker dead-letters two bad messages into the store (kept: 2) and stops; then one letter
    is parked in the dead-letter queue with no archiver running (dead queue ready: 1), five good
    changes wait in the work queue, and a consumer with prefetch 2 holds two of them unacked
    (work queue: ready 3, unacked 2, consumers 1).
    """
    topology = Topology(prefix=backend.prefix)
    service = run_worker()
    for body in (b"{not json", b'{"schema": "billsync.change/9"}'):
        publish_raw(backend.broker_url, topology, body)
    wait_for_dead_letters(backend.database_url, KEPT)
    service.stop(timeout=10)
    publish_raw(backend.broker_url, topology, b"{}", to_dead=True)
    publish([account(n) for n in range(1, GOOD + 1)])
    connection = pika.BlockingConnection(pika_parameters(backend.broker_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=HELD)
    channel.basic_consume(topology.work_queue_name, on_message_callback=lambda *args: None)
    connection.process_data_events(time_limit=0.5)
    try:
        yield topology
    finally:
        connection.close()


def queues_json(cli: Callable[..., Result], **env: str) -> dict[str, Any]:
    """``billsync queues --json``, parsed."""
    result = cli("queues", "--json", **env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The queues of a ``--json`` answer by name."""
    return {q["name"]: q for q in data["queues"]}


def table_row(output: str, name: str) -> list[str]:
    """The cells of the human table's row for queue ``name``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if name in cells:
            return [c for c in cells if c]
    raise AssertionError(f"no row for {name} in:\n{output}")


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
def test_queues_from_the_management_api(
    backend: Backend, busy_queues: Topology, cli: Callable[..., Result]
) -> None:
    require_management(backend.broker_url)
    work, dead = busy_queues.work_queue_name, busy_queues.dead_letter_queue_name

    def settled() -> dict[str, Any] | None:
        data = queues_json(cli)  # the plugin samples every 5 s: wait for it to catch up
        queues = by_name(data)
        figures = queues.get(work, {})
        wanted = (GOOD - HELD, HELD, 1)
        got = (figures.get("ready"), figures.get("unacked"), figures.get("consumers"))
        return data if got == wanted and queues.get(dead, {}).get("ready") == PARKED else None

    data = wait_until(settled, timeout=40, what="management figures")
    assert data["dead_letters_kept"] == KEPT
    queues = by_name(data)
    assert [q["name"] for q in data["queues"]][:2] == [work, dead]
    for figures in queues.values():
        assert figures["source"] == "management"
        for rate in ("publish_rate", "deliver_rate", "ack_rate"):
            assert isinstance(figures[rate], float) and figures[rate] >= 0
    assert queues[dead]["consumers"] == 0

    human = cli("queues")
    assert human.exit_code == 0, human.output
    print(human.stdout)
    row = table_row(human.stdout, work)
    assert row[1:4] == [str(GOOD - HELD), str(HELD), "1"]
    assert all(cell.endswith("/s") for cell in row[4:7]) and row[7] == "management"
    assert table_row(human.stdout, dead)[1] == str(PARKED)
    assert f"dead letters kept in the store: {KEPT}" in human.stdout

    # The rates are RabbitMQ's own: a steady producer shows as a publish rate (within a sample).
    stop = threading.Event()
    producer = threading.Thread(target=publish_steadily, args=(backend, busy_queues, stop))
    producer.start()
    try:
        rate = wait_until(
            lambda: by_name(queues_json(cli))[work]["publish_rate"], timeout=30, what="a rate"
        )
    finally:
        stop.set()
        producer.join(10)
    assert rate > 0


def publish_steadily(backend: Backend, topology: Topology, stop: threading.Event) -> None:
    """About 20 changes a second until ``stop``."""
    with kombu.Connection(backend.broker_url) as connection:
        producer = connection.Producer()
        n = 100
        while not stop.wait(0.05):
            n += 1
            producer.publish(
                account(n).model_dump_json(by_alias=True).encode(),
                exchange=topology.exchange(),
                routing_key=topology.routing_key,
                content_type="application/json",
                content_encoding="binary",
            )


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
def test_queues_from_passive_declares_without_management(
    backend: Backend, busy_queues: Topology, cli: Callable[..., Result]
) -> None:
    work, dead = busy_queues.work_queue_name, busy_queues.dead_letter_queue_name
    data = queues_json(cli, BILLSYNC_MANAGEMENT_URL=CLOSED_MANAGEMENT)
    queues = by_name(data)
    assert list(queues) == [work, dead]
    assert queues[work] == {
        "name": work,
        "ready": GOOD - HELD,
        "unacked": None,
        "consumers": 1,
        "publish_rate": None,
        "deliver_rate": None,
        "ack_rate": None,
        "source": "declare",
    }
    assert (queues[dead]["ready"], queues[dead]["consumers"]) == (PARKED, 0)
    assert data["dead_letters_kept"] == KEPT

    human = cli("queues", BILLSYNC_MANAGEMENT_URL=CLOSED_MANAGEMENT)
    assert human.exit_code == 0, human.output
    print(human.stdout)
    assert table_row(human.stdout, work)[1:] == [
        str(GOOD - HELD),
        "-",
        "1",
        "-",
        "-",
        "-",
        "declare",
    ]
    assert table_row(human.stdout, dead)[1] == str(PARKED)
    assert f"dead letters kept in the store: {KEPT}" in human.stdout


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_queues_on_the_embedded_broker(
    backend: Backend, publish: Callable[..., int], cli: Callable[..., Result]
) -> None:
    topology = Topology(prefix=backend.prefix)
    publish([account(n) for n in range(1, 4)])
    publish_raw(backend.broker_url, topology, b"{}", to_dead=True)
    data = queues_json(cli)
    queues = by_name(data)
    assert (
        queues[topology.work_queue_name]["ready"],
        queues[topology.work_queue_name]["source"],
    ) == (3, "memory")
    assert queues[topology.dead_letter_queue_name]["ready"] == 1
    assert data["dead_letters_kept"] == 0
    human = cli("queues")
    assert human.exit_code == 0, human.output
    print(human.stdout)
    assert table_row(human.stdout, topology.work_queue_name)[1:3] == ["3", "-"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_queues_with_the_broker_down_exits_unavailable(
    backend: Backend, cli: Callable[..., Result]
) -> None:
    started = time.monotonic()
    result = cli(
        "queues",
        BILLSYNC_BROKER_URL="amqp://guest:S3cretPass@127.0.0.1:1//",
        BILLSYNC_MANAGEMENT_URL=CLOSED_MANAGEMENT,
    )
    assert result.exit_code == 3, result.output
    assert "S3cretPass" not in result.output
    assert time.monotonic() - started < 30
