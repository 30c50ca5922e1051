"""``billsync queues`` figures: from the management API, from passive declares, from memory."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.broker.inspect import QueueFigures, queue_figures
from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from billsync.errors import TransientError

CLOSED_PORT_URL = "http://guest:guest@127.0.0.1:1"


def publish(broker_url: str, topology: Topology, count: int) -> None:
    publisher = open_publisher(broker_url, topology)
    try:
        for _ in range(count):
            publisher.publish(b"{}")
        publisher.flush()
    finally:
        publisher.close()


def by_name(figures: list[QueueFigures]) -> dict[str, QueueFigures]:
    return {figure.name: figure for figure in figures}


def test_figures_from_passive_declares_when_management_is_closed(
    broker_url: str, topology: Topology
) -> None:
    publish(broker_url, topology, 3)
    figures = by_name(queue_figures(broker_url, topology, management_url=CLOSED_PORT_URL))
    work = figures[topology.work_queue_name]
    assert (work.ready, work.unacked, work.consumers, work.source) == (3, None, 0, "declare")
    assert work.publish_rate is None and work.deliver_rate is None and work.ack_rate is None
    assert figures[topology.dead_letter_queue_name].ready == 0


def test_figures_from_the_management_api(
    broker_url: str, topology: Topology, management: str, amqp: Any
) -> None:
    publish(broker_url, topology, 3)
    amqp.basic_qos(prefetch_count=1)  # one consumer holding one delivery unacked
    amqp.basic_consume(topology.work_queue_name, on_message_callback=lambda *args: None)
    amqp.connection.process_data_events(time_limit=0.2)
    deadline = time.monotonic() + 20  # the management plugin samples every 5 s
    while True:
        work = by_name(queue_figures(broker_url, topology))[topology.work_queue_name]
        if (work.ready, work.unacked, work.consumers) == (2, 1, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert work.source == "management"
    assert (work.ready, work.unacked, work.consumers) == (2, 1, 1)
    assert work.publish_rate is not None and work.publish_rate >= 0
    assert work.ack_rate is not None and work.deliver_rate is not None


def test_queues_that_do_not_exist_are_left_out(broker_url: str, topology: Topology) -> None:
    assert queue_figures(broker_url, topology, management_url=CLOSED_PORT_URL) == []


def test_a_refused_login_never_shows_the_password(broker_url: str, topology: Topology) -> None:
    wrong = broker_url.replace("guest:guest@", "guest:Wr0ngPassw0rd@")
    with pytest.raises(TransientError) as failed:
        queue_figures(wrong, topology)
    assert "Wr0ngPassw0rd" not in str(failed.value)


def test_figures_from_the_memory_transport() -> None:
    topology = Topology(prefix="meminspect")
    publish("memory://", topology, 2)
    figures = by_name(queue_figures("memory://", topology))
    work = figures[topology.work_queue_name]
    assert (work.ready, work.unacked, work.source) == (2, None, "memory")
    assert figures[topology.dead_letter_queue_name].ready == 0
