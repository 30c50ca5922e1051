"""Helpers for the dead-letter and queue tests (the ``cli`` fixture is tests/conftest.py's)."""

from __future__ import annotations

import kombu

from adapters.broker.topology import Topology


def publish_raw(url: str, topology: Topology, body: bytes, *, to_dead: bool = False) -> None:
    """Publish one body to the work queue, or straight to the dead-letter exchange."""
    with kombu.Connection(url) as connection:
        producer = connection.Producer()
        exchange = topology.dead_letter_exchange() if to_dead else topology.exchange()
        queue = topology.dead_letter_queue() if to_dead else topology.work_queue()
        producer.publish(
            body,
            exchange=exchange,
            routing_key=topology.dead_letter_queue_name if to_dead else topology.routing_key,
            headers={"x-billsync-reason": "parked by the test"} if to_dead else {},
            content_type="application/json",
            content_encoding="binary",
            declare=[queue],
        )
