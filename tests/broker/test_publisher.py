"""The confirmed publisher: everything confirmed, callbacks in order once, failures surface."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import kombu
import pytest

from adapters.broker.publisher import open_publisher, publish_messages
from adapters.broker.topology import Topology
from billsync.errors import TransientError
from billsync.messages import change, parse_message

ACCOUNT_ID = "001000000000001AAA"


def recorder(seen: list[int], number: int) -> Callable[[], None]:
    """An on_confirm callback that notes which message it belongs to."""

    def confirm() -> None:
        seen.append(number)

    return confirm


def test_every_message_is_confirmed_with_callbacks_in_order(
    broker_url: str, topology: Topology, amqp
) -> None:
    confirmed: list[int] = []
    publisher = open_publisher(broker_url, topology, window=64)
    try:
        for number in range(3000):
            publisher.publish(
                json.dumps({"n": number}).encode(),
                headers={"n": number},
                on_confirm=recorder(confirmed, number),
            )
        publisher.flush(timeout=30)
    finally:
        publisher.close()
    assert confirmed == list(range(3000))
    assert amqp.queue_declare(topology.work_queue_name, passive=True).method.message_count == 3000
    _method, properties, body = amqp.basic_get(topology.work_queue_name, auto_ack=True)
    assert json.loads(body) == {"n": 0}
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.headers["n"] == 0


def test_callbacks_run_once_even_across_flushes(broker_url: str, topology: Topology) -> None:
    confirmed: list[int] = []
    publisher = open_publisher(broker_url, topology, window=4)
    try:
        for number in range(20):
            publisher.publish(b"{}", on_confirm=recorder(confirmed, number))
            if number % 7 == 0:
                publisher.flush()
        publisher.flush()
        publisher.flush()
    finally:
        publisher.close()
    assert confirmed == list(range(20))


def test_a_nack_fails_the_flush(broker_url: str, topology: Topology, amqp) -> None:
    publisher = open_publisher(broker_url, topology)
    full = f"{topology.prefix}.full"
    amqp.queue_declare(full, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    amqp.queue_bind(full, topology.exchange_name, routing_key="full")
    confirmed: list[int] = []
    try:
        for number in range(3):
            publisher.publish(b"{}", routing_key="full", on_confirm=recorder(confirmed, number))
        with pytest.raises(TransientError, match="nack"):
            publisher.flush(timeout=10)
        with pytest.raises(TransientError):
            publisher.publish(b"{}")
    finally:
        publisher.close()
    assert 2 not in confirmed


def test_an_unroutable_message_fails_the_flush(broker_url: str, topology: Topology) -> None:
    publisher = open_publisher(broker_url, topology)
    try:
        publisher.publish(b"{}", routing_key="nowhere")
        with pytest.raises(TransientError, match="unroutable"):
            publisher.flush(timeout=10)
    finally:
        publisher.close()


def test_a_dead_connection_fails_the_flush(broker_url: str, topology: Topology, proxy) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
    publisher = open_publisher(url, topology)
    confirmed: list[int] = []
    try:
        publisher.publish(b"{}", on_confirm=recorder(confirmed, 0))
        publisher.flush(timeout=10)
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(TransientError, match=r"lost|gone"):
            for number in range(1, 1000):
                publisher.publish(b"{}", on_confirm=recorder(confirmed, number))
            publisher.flush(timeout=10)
        assert time.monotonic() - started < 10
    finally:
        publisher.close()
    assert confirmed == [0]


def test_an_unreachable_broker_is_transient_and_hides_the_password(topology: Topology) -> None:
    with pytest.raises(TransientError) as failed:
        open_publisher("amqp://guest:hunter2secret@127.0.0.1:1//", topology)
    assert "hunter2secret" not in str(failed.value)


def test_publish_messages_enqueues_valid_messages(broker_url: str, topology: Topology, amqp):
    messages = [change("Account", ACCOUNT_ID, {"Name": f"Acme {n}"}) for n in range(5)]
    assert publish_messages(broker_url, topology, messages) == 5
    _, _, body = amqp.basic_get(topology.work_queue_name, auto_ack=True)
    assert parse_message(body, max_bytes=1_000_000) == messages[0]


def test_memory_transport_confirms_at_once() -> None:
    topology = Topology(prefix="mempub")
    confirmed: list[int] = []
    publisher = open_publisher("memory://", topology)
    try:
        for number in range(3):
            publisher.publish(b'{"x": 1}', on_confirm=recorder(confirmed, number))
            assert confirmed == list(range(number + 1))
        publisher.flush()
    finally:
        publisher.close()
    assert publish_messages("memory://", topology, [change("Account", ACCOUNT_ID, {})]) == 1
    received: list[bytes] = []

    def receive(body: object, message: kombu.Message) -> None:
        received.append(message.body)
        message.ack()

    connection = kombu.Connection("memory://")
    with connection, connection.Consumer(topology.work_queue(), callbacks=[receive], accept=None):
        for _ in range(4):
            connection.drain_events(timeout=1)
    assert received[:3] == [b'{"x": 1}'] * 3
    assert parse_message(received[3], max_bytes=10_000).record_id == ACCOUNT_ID


def test_heartbeats_keep_an_idle_publisher_alive(broker_url: str, topology: Topology) -> None:
    publisher = open_publisher(broker_url + "?heartbeat=1", topology)
    confirmed: list[int] = []
    try:
        publisher.publish(b"{}", on_confirm=recorder(confirmed, 0))
        publisher.flush()
        time.sleep(3.5)  # several heartbeat intervals with no publishing at all
        publisher.publish(b"{}", on_confirm=recorder(confirmed, 1))
        publisher.flush()
    finally:
        publisher.close()
    assert confirmed == [0, 1]
