"""The broker's own publishing and consuming ceiling, measured in the same run as the benchmark.

SPEC §9 sets confirmed ingest publishing at ≥ 90 % of the broker's unconfirmed publish rate, so
both are measured here side by side, on a scratch quorum queue deleted afterwards:

- ``unconfirmed_publish``: pika, persistent 1 KiB messages, no confirms (same client library as
  the confirmed publisher, so the ratio shows what confirms cost); timed until the queue holds
  them all;
- ``unconfirmed_publish_pyamqp``: the same with py-amqp, a leaner client, for reference;
- ``blocking_confirm_publish``: one blocking confirm per message (on fewer messages);
- ``windowed_confirm_publish``: billsync's ConfirmedPublisher with its confirm window;
- ``consume_ack``: a kombu consumer, prefetch 200, acking each message;
- ``windowed_share_of_unconfirmed`` (and ``..._pyamqp``): the windowed rate over each unconfirmed
  one, the ratio SPEC §9 sets a target for.

The machine is shared and noisy, so the two publish rates are measured in interleaved rounds and
the best round of each is kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import amqp
import kombu
import pika
from pika.adapters.blocking_connection import BlockingChannel as Channel

from adapters.broker.publisher import DEFAULT_WINDOW, open_publisher
from adapters.broker.topology import Topology
from adapters.broker.urls import credentials, pika_parameters, virtual_host

DEFAULT_ROUNDS = 3
CONSUMER_PREFETCH = 200
BLOCKING_SHARE = 20  # the blocking-confirm run uses 1/20 of the messages: it is that slow
ENQUEUE_TIMEOUT_S = 120.0
Progress = Callable[[str], None]


def measure_broker_ceiling(
    url: str,
    *,
    messages: int = 20000,
    size: int = 1024,
    window: int = DEFAULT_WINDOW,
    rounds: int = DEFAULT_ROUNDS,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Publish and consume rates (msg/s) of the RabbitMQ at ``url``, by name (see module doc)."""
    note = progress or (lambda _text: None)
    topology = Topology(prefix=f"billsync-bench-{uuid.uuid4().hex[:8]}")
    body = _body(size)
    with kombu.Connection(url) as connection:
        topology.declare(connection)
    control = pika.BlockingConnection(pika_parameters(url))
    channel = control.channel()
    figures: dict[str, list[float]] = {"pika": [], "pyamqp": [], "windowed": []}
    try:
        for number in range(1, rounds + 1):
            note(f"broker ceiling: round {number} of {rounds}")
            figures["pika"].append(_unconfirmed_pika(channel, topology, body, messages))
            _purge(channel, topology)
            figures["pyamqp"].append(_unconfirmed_pyamqp(url, channel, topology, body, messages))
            _purge(channel, topology)
            figures["windowed"].append(_windowed(url, topology, body, messages, window))
            if number < rounds:
                _purge(channel, topology)
        note("broker ceiling: consume and ack")
        consume = _consume_ack(url, topology, messages)
        note("broker ceiling: one blocking confirm per message")
        blocking = _blocking_confirms(control, topology, body, max(100, messages // BLOCKING_SHARE))
    finally:
        _delete(channel, topology)
        control.close()
    unconfirmed = max(figures["pika"])
    unconfirmed_pyamqp = max(figures["pyamqp"])
    windowed = max(figures["windowed"])
    return {
        "unconfirmed_publish": unconfirmed,
        "unconfirmed_publish_pyamqp": unconfirmed_pyamqp,
        "blocking_confirm_publish": blocking,
        "windowed_confirm_publish": windowed,
        "windowed_share_of_unconfirmed": windowed / unconfirmed,
        "windowed_share_of_unconfirmed_pyamqp": windowed / unconfirmed_pyamqp,
        "consume_ack": consume,
        "window": float(window),
        "message_bytes": float(len(body)),
    }


def _body(size: int) -> bytes:
    padding = max(0, size - len(b'{"pad":""}'))
    return b'{"pad":"' + b"x" * padding + b'"}'


def _unconfirmed_pika(channel: Channel, topology: Topology, body: bytes, count: int) -> float:
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = time.perf_counter()
    for _ in range(count):
        channel.basic_publish(topology.exchange_name, topology.routing_key, body, properties)
    _await_depth(channel, topology, count)
    return count / (time.perf_counter() - started)


def _unconfirmed_pyamqp(
    url: str, channel: Channel, topology: Topology, body: bytes, count: int
) -> float:
    params = pika_parameters(url)
    user, password = credentials(url)
    connection = amqp.Connection(
        f"{params.host}:{params.port}",
        userid=user,
        password=password,
        virtual_host=virtual_host(url),
    )
    connection.connect()
    try:
        publishing = connection.channel()
        started = time.perf_counter()
        for _ in range(count):
            message = amqp.Message(body, delivery_mode=2, content_type="application/json")
            publishing.basic_publish(
                message, exchange=topology.exchange_name, routing_key=topology.routing_key
            )
        _await_depth(channel, topology, count)
        return count / (time.perf_counter() - started)
    finally:
        connection.close()


def _windowed(url: str, topology: Topology, body: bytes, count: int, window: int) -> float:
    publisher = open_publisher(url, topology, window=window)
    try:
        started = time.perf_counter()
        for _ in range(count):
            publisher.publish(body)
        publisher.flush(timeout=ENQUEUE_TIMEOUT_S)
        return count / (time.perf_counter() - started)
    finally:
        publisher.close()


def _blocking_confirms(
    connection: pika.BlockingConnection, topology: Topology, body: bytes, count: int
) -> float:
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = time.perf_counter()
    for _ in range(count):
        channel.basic_publish(topology.exchange_name, topology.routing_key, body, properties)
    rate = count / (time.perf_counter() - started)
    channel.close()
    return rate


def _consume_ack(url: str, topology: Topology, count: int) -> float:
    received = 0

    def on_message(message: kombu.Message) -> None:
        nonlocal received
        message.ack()
        received += 1

    with kombu.Connection(url) as connection:
        consumer = kombu.Consumer(
            connection, [topology.work_queue()], on_message=on_message, prefetch_count=200
        )
        deadline = time.monotonic() + ENQUEUE_TIMEOUT_S
        with consumer:
            started = time.perf_counter()
            while received < count and time.monotonic() < deadline:
                connection.drain_events(timeout=5)
            return received / (time.perf_counter() - started)


def _await_depth(channel: Channel, topology: Topology, count: int) -> None:
    deadline = time.monotonic() + ENQUEUE_TIMEOUT_S
    while time.monotonic() < deadline:
        depth = channel.queue_declare(topology.work_queue_name, passive=True).method.message_count
        if depth >= count:
            return
        time.sleep(0.001)
    raise TimeoutError(f"the scratch queue did not reach {count} messages")


def _purge(channel: Channel, topology: Topology) -> None:
    channel.queue_purge(topology.work_queue_name)


def _delete(channel: Channel, topology: Topology) -> None:
    for name in topology.queue_names:
        channel.queue_delete(name)
    channel.exchange_delete(topology.exchange_name)
    channel.exchange_delete(topology.dead_letter_exchange_name)
