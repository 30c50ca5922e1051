"""The confirmed publisher: how the streaming ingest and the producer API put changes on the queue.

A change counts as enqueued only once the broker confirms it (SPEC §4: the ingest stores a replay
id only then). One blocking confirm per message caps publishing below 1,000 msg/s on our machine,
so on RabbitMQ the publisher keeps a window of up to ``window`` unconfirmed messages in flight
(see ``confirm_window``) and ``publish`` blocks only while that window is full. Other kombu
transports (the embedded ``memory://`` broker of the demo) have no confirms: a publish that
returns counts as confirmed at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import kombu
from kombu.exceptions import KombuError

from adapters.broker.confirm_window import ConfirmWindowPublisher
from adapters.broker.connections import BrokerTls, is_tls, open_connection
from adapters.broker.topology import Topology
from adapters.broker.urls import failover_urls, is_amqp, scrub
from billsync.errors import TransientError
from billsync.messages import Message, encode

DEFAULT_WINDOW = 256
CONTENT_TYPE = "application/json"
CONNECT_TIMEOUT_S = 10
# One connection attempt: callers retry with billsync's own backoff policy.
NO_RETRIES = {"max_retries": 0}


class ConfirmedPublisher(Protocol):
    """Publishes changes that count only once the broker has confirmed them.

    Used from one producer thread. ``on_confirm`` callbacks run in publication order, in that
    thread, during a later ``publish`` or ``flush`` (never in a broker I/O thread, so they may
    touch the caller's database session).
    """

    def publish(
        self,
        body: bytes,
        *,
        routing_key: str = "change",
        headers: dict[str, Any] | None = None,
        on_confirm: Callable[[], None] | None = None,
    ) -> None:
        """Send one message; blocks only while ``window`` confirms are outstanding."""
        ...

    def flush(self, timeout: float = 30.0) -> None:
        """Return once everything published so far is confirmed and its callbacks have run.

        Raises TransientError on a nack, an unroutable message, a timeout or a lost connection.
        """
        ...

    def close(self) -> None:
        """Close the connection; what is still unconfirmed never runs its callbacks."""
        ...


class KombuPublisher:
    """A kombu Producer for transports without confirms: a returned publish counts as confirmed."""

    def __init__(self, url: str, topology: Topology) -> None:
        self._url = url
        self._connection = kombu.Connection(
            url, connect_timeout=CONNECT_TIMEOUT_S, transport_options=NO_RETRIES
        )
        topology.declare(self._connection)
        self._producer = kombu.Producer(
            self._connection.default_channel, exchange=topology.exchange()
        )

    def publish(
        self,
        body: bytes,
        *,
        routing_key: str = "change",
        headers: dict[str, Any] | None = None,
        on_confirm: Callable[[], None] | None = None,
    ) -> None:
        """Send one message; the transport accepting it is its confirm: ``on_confirm`` runs now."""
        try:
            self._producer.publish(
                body,
                routing_key=routing_key,
                headers=dict(headers or {}),
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=2,
                retry=False,
            )
        except (KombuError, *self._connection.connection_errors) as exc:
            text = scrub(f"{type(exc).__name__}: {exc}", self._url)
            raise TransientError(f"publish failed: {text}") from None
        if on_confirm is not None:
            on_confirm()

    def flush(self, timeout: float = 30.0) -> None:
        """Nothing is ever outstanding on these transports."""

    def close(self) -> None:
        """Release the connection."""
        self._connection.release()


def open_publisher(
    url: str,
    topology: Topology,
    *,
    window: int = DEFAULT_WINDOW,
    tls: BrokerTls | None = None,
) -> ConfirmedPublisher:
    """Declare the topology and open the publisher that suits the broker URL.

    RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``) gets the pipelined confirm window; any
    other kombu transport gets a plain kombu Producer. With a failover URL (``a;b``) the first
    broker that answers is used; TLS verifies the host name (and trusts ``tls``'s CA bundle).
    Raises TransientError when no broker can be reached.
    """
    if not is_amqp(url):
        return KombuPublisher(url, topology)
    failure: TransientError | None = None
    for one in failover_urls(url):
        try:
            with open_connection(
                one, tls=tls, connect_timeout=CONNECT_TIMEOUT_S, transport_options=NO_RETRIES
            ) as connection:
                topology.declare(connection)
        except TransientError as exc:
            failure = exc
            continue
        context = (tls or BrokerTls()).context() if is_tls(one) else None
        return ConfirmWindowPublisher(one, topology, window=window, tls=context)
    assert failure is not None
    raise failure


def publish_messages(url: str, topology: Topology, messages: Iterable[Message]) -> int:
    """Enqueue billsync messages and wait until all are confirmed: the small producer API.

    Returns how many were published. Raises TransientError if any could not be confirmed; a
    caller that retries may enqueue some twice, which billsync's consumers tolerate.
    """
    publisher = open_publisher(url, topology)
    count = 0
    try:
        for message in messages:
            publisher.publish(encode(message), routing_key=topology.routing_key)
            count += 1
        publisher.flush()
    finally:
        publisher.close()
    return count
