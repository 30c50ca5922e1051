"""The topology is declared idempotently, as quorum queues with a delivery limit and a DLX."""

from __future__ import annotations

from typing import Any

import kombu
import pika
import pika.exceptions
import pytest
import requests

from adapters.broker.topology import Topology
from billsync.errors import ConfigError, TransientError


def test_declaring_twice_changes_nothing(broker_url: str, topology: Topology, amqp) -> None:
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
        topology.declare(connection)
    for name in topology.queue_names:
        assert amqp.queue_declare(name, passive=True).method.message_count == 0


def test_work_queue_is_a_delivery_limited_quorum_queue(
    broker_url: str, topology: Topology, amqp
) -> None:
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
        other_limit = Topology(prefix=topology.prefix, delivery_limit=7)
        with pytest.raises(ConfigError, match="x-delivery-limit"):
            other_limit.declare(connection)
    # A classic declare of the same name is refused: the queue is a quorum queue.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        amqp.queue_declare(topology.work_queue_name, durable=True)
    assert refused.value.reply_code == 406


def test_arguments_as_the_management_api_reports_them(
    broker_url: str, topology: Topology, management: str
) -> None:
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
    base = "http://" + management.split("@")[-1]
    work = requests.get(
        f"{base}/api/queues/%2F/{topology.work_queue_name}", auth=("guest", "guest"), timeout=5
    ).json()
    assert work["type"] == "quorum" and work["durable"] is True
    assert work["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 2,
        "x-dead-letter-exchange": topology.dead_letter_exchange_name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    dead = requests.get(
        f"{base}/api/queues/%2F/{topology.dead_letter_queue_name}",
        auth=("guest", "guest"),
        timeout=5,
    ).json()
    assert dead["type"] == "quorum" and dead["arguments"] == {
        "x-queue-type": "quorum",
        "x-max-length": topology.dead_letter_max_length,
        "x-overflow": "drop-head",
        "x-dead-letter-exchange": topology.dropped_exchange_name,
    }
    bindings = requests.get(
        f"{base}/api/exchanges/%2F/{topology.exchange_name}/bindings/source",
        auth=("guest", "guest"),
        timeout=5,
    ).json()
    assert [(b["destination"], b["routing_key"]) for b in bindings] == [
        (topology.work_queue_name, "change")
    ]


def test_unreachable_broker_is_transient_and_hides_the_password() -> None:
    url = "amqp://guest:hunter2secret@127.0.0.1:1//"
    options = {"max_retries": 0}
    with (
        kombu.Connection(url, transport_options=options) as conn,
        pytest.raises(TransientError) as failed,
    ):
        Topology(prefix="unreachable").declare(conn)
    assert "hunter2secret" not in str(failed.value)


def test_memory_transport_routes_changes_to_the_work_queue() -> None:
    topology = Topology(prefix="memtopo")
    with kombu.Connection("memory://") as connection:
        topology.declare(connection)
        topology.declare(connection)
        with connection.Producer() as producer:
            producer.publish(b"{}", exchange=topology.exchange(), routing_key="change")
        channel = connection.default_channel
        assert channel.queue_declare(topology.work_queue_name, passive=True).message_count == 1
        assert channel.queue_purge(topology.work_queue_name) == 1


def test_a_dead_letter_queue_declared_before_it_was_bounded_keeps_working(
    broker_url: str, topology: Topology, amqp: Any, caplog: Any
) -> None:
    """An existing deployment's unbounded dead-letter queue is not a start-up error: the
    topology declares around it and says once how to bound it."""
    import logging

    amqp.queue_declare(
        topology.dead_letter_queue_name, durable=True, arguments={"x-queue-type": "quorum"}
    )
    caplog.set_level(logging.WARNING, logger="billsync.broker")
    with kombu.Connection(broker_url) as connection:
        topology.declare(connection)
        topology.declare(connection)
    warnings = [r for r in caplog.records if "without its length bound" in r.getMessage()]
    assert len(warnings) == 1
    assert amqp.queue_declare(topology.work_queue_name, passive=True).method.message_count == 0
