"""The broker dead-letters rejected messages and poison messages that trip the delivery limit."""

from __future__ import annotations

import time
from typing import Any

import kombu
import pika

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology


def wait_for_dead_letter(channel: Any, topology: Topology) -> tuple[Any, bytes]:
    """The next dead letter; dead-lettering at least once is asynchronous, so poll a little."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(topology.dead_letter_queue_name)
        if method is not None:
            channel.basic_ack(method.delivery_tag)
            return properties, body
        time.sleep(0.05)
    raise AssertionError("no dead letter arrived within 10 s")


def publish_one(broker_url: str, topology: Topology, body: bytes) -> None:
    publisher = open_publisher(broker_url, topology)
    try:
        publisher.publish(body, headers={"x-billsync-test": "yes"})
        publisher.flush()
    finally:
        publisher.close()


def test_a_rejected_message_lands_in_the_dead_letter_queue(
    broker_url: str, topology: Topology, amqp: Any
) -> None:
    publish_one(broker_url, topology, b"not json")
    method, _, _ = amqp.basic_get(topology.work_queue_name)
    amqp.basic_reject(method.delivery_tag, requeue=False)
    properties, body = wait_for_dead_letter(amqp, topology)
    assert body == b"not json"
    death = properties.headers["x-death"][0]
    assert death["reason"] == "rejected"
    assert death["queue"] == topology.work_queue_name
    assert properties.headers["x-first-death-reason"] == "rejected"
    assert properties.headers["x-billsync-test"] == "yes"
    assert amqp.queue_declare(topology.work_queue_name, passive=True).method.message_count == 0


def test_a_message_redelivered_past_the_limit_lands_there_too(
    broker_url: str, topology: Topology, amqp: Any
) -> None:
    publish_one(broker_url, topology, b'{"poison": true}')
    deliveries = 0
    while True:
        method, _, _ = amqp.basic_get(topology.work_queue_name)
        if method is None:
            break
        deliveries += 1
        amqp.basic_nack(method.delivery_tag, requeue=True)  # as a crashing worker would
        assert deliveries <= topology.delivery_limit + 1
    assert deliveries == topology.delivery_limit + 1
    properties, body = wait_for_dead_letter(amqp, topology)
    assert body == b'{"poison": true}'
    assert properties.headers["x-death"][0]["reason"] == "delivery_limit"


def test_a_worker_that_dies_holding_a_message_counts_as_a_delivery(
    broker_url: str, topology: Topology, amqp: Any
) -> None:
    publish_one(broker_url, topology, b"{}")
    for _ in range(topology.delivery_limit + 1):
        connection = pika.BlockingConnection(pika.URLParameters(broker_url.rstrip("/") + "/%2F"))
        method, _, _ = connection.channel().basic_get(topology.work_queue_name)
        assert method is not None
        connection.close()  # never acked: the broker requeues it and counts the delivery
    properties, _ = wait_for_dead_letter(amqp, topology)
    assert properties.headers["x-death"][0]["reason"] == "delivery_limit"


def test_a_kombu_consumer_rejecting_dead_letters_too(
    broker_url: str, topology: Topology, amqp: Any
) -> None:
    publish_one(broker_url, topology, b"{}")
    with kombu.Connection(broker_url) as connection:
        message = connection.SimpleQueue(topology.work_queue()).get(timeout=5)
        message.reject(requeue=False)
    properties, _ = wait_for_dead_letter(amqp, topology)
    assert properties.headers["x-death"][0]["reason"] == "rejected"


def test_a_full_dead_letter_queue_drops_its_oldest_and_the_archiver_counts_them(
    broker_url: str, amqp: Any, tmp_path: Any, caplog: Any
) -> None:
    """The dead-letter queue is bounded: past its length the broker drops the oldest letters
    (keeping the newest); the archiver counts each dropped one (metric) and logs it, and stores
    the rest. Nothing is dropped silently."""
    import logging
    import threading
    import uuid

    from adapters.store.db import make_engine, migrate, session_factory
    from tests.conftest import wait_until
    from workers.ops.deadletters import DeadLetterArchiver, list_dead_letters

    topology = Topology(prefix=f"bstest-{uuid.uuid4().hex[:10]}", dead_letter_max_length=2)
    url = f"sqlite:///{tmp_path}/store.db"
    migrate(url)
    sessions = session_factory(make_engine(url, pool_size=2))
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
    try:
        for n in range(5):
            amqp.basic_publish(
                topology.dead_letter_exchange_name,
                "",
                f'{{"id": "letter-{n}"}}'.encode(),
                pika.BasicProperties(headers={"x-billsync-reason": f"reason {n}"}),
            )
        caplog.set_level(logging.WARNING, logger="billsync.deadletters")
        archiver = DeadLetterArchiver(broker_url, topology, sessions)
        stop = threading.Event()
        thread = threading.Thread(target=archiver.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_until(lambda: archiver.archived == 2 and archiver.dropped == 3, timeout=20)
        finally:
            stop.set()
            thread.join(timeout=10)
        kept = sorted(letter.message_id or "" for letter in list_dead_letters(sessions))
        assert kept == ["letter-3", "letter-4"], "the newest are kept"
        dropped_lines = [r for r in caplog.records if "dropped its oldest" in r.message]
        assert len(dropped_lines) == 3
        assert "letter-0" in dropped_lines[0].message
    finally:
        for name in topology.queue_names:
            amqp.queue_delete(name)
        for name in (
            topology.exchange_name,
            topology.dead_letter_exchange_name,
            topology.dropped_exchange_name,
        ):
            amqp.exchange_delete(name)


def test_the_archiver_stores_hostile_letters_without_looping(
    broker_url: str, topology: Topology, tmp_path: Any
) -> None:
    """Letters published straight to the dead-letter exchange (a bz2 bomb, JSON nested 100,000
    deep, a non-UTF-8 content type, headers longer than the store's columns) are each stored
    once, safely, and listed; the archiver keeps its connection."""
    import bz2
    import threading

    import amqp

    from adapters.store.db import make_engine, migrate, session_factory
    from tests.conftest import wait_until
    from workers.ops.deadletters import DeadLetterArchiver, get_dead_letter, list_dead_letters

    url = f"sqlite:///{tmp_path}/store.db"
    migrate(url)
    sessions = session_factory(make_engine(url, pool_size=2))
    bomb = bz2.compress(b"\0" * (100 * 1024 * 1024), 9)
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
        channel = connection.connection.channel()
        letters = [
            amqp.Message(bomb, application_headers={"compression": "application/x-bz2"}),
            amqp.Message(b"[" * 100_000 + b"]" * 100_000, content_type="application/json"),
            amqp.Message(b'{"id": "x"}', content_type=b"\xff\xfe/json"),
            amqp.Message(
                b"{}",
                application_headers={
                    "x-billsync-reason": "r" * 100_000,
                    "x-billsync-queue": "q" * 1000,
                    "nul": "a\x00b",
                },
            ),
        ]
        for letter in letters:
            channel.basic_publish(letter, exchange=topology.dead_letter_exchange_name)
    archiver = DeadLetterArchiver(broker_url, topology, sessions)
    stop = threading.Event()
    thread = threading.Thread(target=archiver.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: archiver.archived >= len(letters), timeout=30, what="all archived")
        time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=10)
    stored = list_dead_letters(sessions)
    assert len(stored) == len(letters) == archiver.archived
    sizes = sorted(letter.size for letter in stored)
    assert len(bomb) in sizes, "the bomb is stored as it came, never decompressed"
    assert all(len(letter.reason) <= 2000 for letter in stored)
    assert all(len(letter.source_queue or "") <= 120 for letter in stored)
    odd = [get_dead_letter(sessions, letter.id) for letter in stored]
    assert any("\\xff" in str((o.headers if o else {}).get("x-billsync-content-type")) for o in odd)
