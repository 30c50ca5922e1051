"""The consuming side of the broker: deliveries in, acks and confirmed dead letters out.

``ConsumerLink`` owns one kombu connection to the work queue and everything AMQP about it:
connecting (with failover between broker URLs), declaring the topology, the raw-delivery guard
(``adapters.broker.wire``), prefetch, heartbeats, pausing (``basic.cancel``) while the store is
away, and publishing dead letters with publisher confirms. The worker's policy (batching, the
poison limit, acking after the commit) lives in ``workers.sync.consumer`` and sees only
``Delivery``.

Heartbeats are kept by reading frames: every wait goes through ``drain_events(timeout=...)`` and
``heartbeat_check()``, never ``time.sleep``, so a worker that waits minutes for PostgreSQL keeps
its connection, and the messages it holds are not redelivered (nor counted as crashes).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Consumer, Producer
from kombu.message import Message as KombuMessage

from adapters.broker.connections import BrokerTls, open_connection
from adapters.broker.topology import Topology
from adapters.broker.urls import failover_urls, redact
from adapters.broker.wire import REFUSED_HEADER, guard_channel, shown, tolerate_invalid_utf8
from billsync.logs import ConnectionState

log = logging.getLogger("billsync.consumer")

REASON_HEADER = "x-billsync-reason"
RECONNECT_BACKOFF_S = (0.5, 1, 2, 5, 10)
DEFAULT_HEARTBEAT_S = 20
#: A dead letter's reason is cut to this length (headers are bounded by the frame size).
MAX_REASON_CHARS = 2000


@dataclass
class Delivery:
    """One message as the broker delivered it: raw body, headers, and why it is refused (if)."""

    message: KombuMessage

    @property
    def body(self) -> bytes:
        """The body exactly as it came (never decompressed nor decoded)."""
        body = self.message.body
        return body if isinstance(body, bytes) else str(body).encode("utf-8", "surrogatepass")

    @property
    def headers(self) -> dict[Any, Any]:
        """The AMQP headers (the guard's own marks included)."""
        return dict(self.message.headers or {})

    @property
    def redelivered(self) -> bool:
        """True when the broker delivered this message before (a consumer stopped holding it)."""
        return bool(self.message.delivery_info.get("redelivered"))

    @property
    def refused(self) -> str | None:
        """Why the guard refused to let this delivery be decoded, or None."""
        reason = (self.message.headers or {}).get(REFUSED_HEADER)
        return str(reason) if reason else None

    @property
    def key(self) -> str:
        """A stable identity for the delivery (its body's digest), across redeliveries."""
        return hashlib.sha256(self.body).hexdigest()

    def ack(self) -> None:
        """Acknowledge: the broker forgets the message."""
        self.message.ack()


@dataclass
class ConsumerLink:
    """One consuming connection to the work queue, reconnected (and failed over) by ``serve``."""

    url: str
    topology: Topology
    prefetch: int
    max_message_bytes: int
    heartbeat: int = DEFAULT_HEARTBEAT_S
    tls: BrokerTls | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    dead_lettered: int = 0
    #: Connections lost and made again (a store outage must not cause any).
    reconnects: int = 0

    def __post_init__(self) -> None:
        self._buffer: list[Delivery] = []
        self._connection: Connection | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._paused = False
        #: ``connection.lost`` (with the cause) and ``connection.back``, once each.
        self.state = ConnectionState("broker", redact(self.url))

    def serve(self, stop: threading.Event, session: Callable[[], None]) -> None:
        """Run ``session`` on a live connection until ``stop``; after a broker failure, drop
        what is held (the broker redelivers it), reconnect with backoff and run it again.
        One log line when the broker is lost and one when it is back, not one per attempt."""
        urls = failover_urls(self.url)
        failures = 0
        while not stop.is_set():
            url = urls[failures % len(urls)]
            try:
                with self._connected(url):
                    self.state.back()
                    if failures:
                        self.reconnects += 1
                        log.info("consumer reconnected to %s", redact(url))
                    failures = 0
                    session()
                return
            except Exception as exc:
                if stop.is_set():
                    log.info("consumer stopped (%s); what it held goes back to the queue", exc)
                    return
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                if failures == 0:
                    self.state.lost(exc)
                    log.info(
                        "consumer reconnecting to %s every %.0f s at most",
                        redact(url),
                        RECONNECT_BACKOFF_S[-1],
                    )
                failures += 1
                self._buffer.clear()
                stop.wait(delay)

    @contextlib.contextmanager
    def _connected(self, url: str) -> Iterator[None]:
        """A live, declared, consuming connection for the block; released however it ends."""
        try:
            self._open(url)
            yield
        finally:
            self._close()

    def _open(self, url: str) -> None:
        tolerate_invalid_utf8()
        connection = open_connection(
            url, heartbeat=self.heartbeat, tls=self.tls, confirm_publish=True
        )
        self._connection = connection
        connection.ensure_connection(max_retries=1)
        self.topology.declare(connection)
        channel = connection.channel()
        guard_channel(channel, max_bytes=self.max_message_bytes)
        self._producer = Producer(connection.channel())
        self._consumer = Consumer(
            channel,
            queues=[self.topology.work_queue()],
            on_message=lambda m: self._buffer.append(Delivery(m)),
            prefetch_count=self.prefetch,
            no_ack=False,
        )
        self._consumer.consume()
        self._paused = False
        self.ready.set()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        self._consumer = self._producer = None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to release
                connection.release()

    @property
    def _live(self) -> Connection:
        if self._connection is None:
            raise ConnectionError("the consumer is not connected")
        return self._connection

    def take(self, timeout: float = 0.2) -> list[Delivery]:
        """What the broker has delivered: waits up to ``timeout`` for the first delivery, then
        briefly for more (up to the prefetch), so that a burst is handled as one batch."""
        if not self._buffer:
            self._drain(timeout)
            if not self._buffer:
                return []
        deadline = time.monotonic() + 0.01
        while len(self._buffer) < self.prefetch and time.monotonic() < deadline:
            if not self._drain(0.002):
                break
        return self._handover()

    def take_held(self) -> list[Delivery]:
        """The deliveries the broker has already sent and this consumer has not taken yet."""
        while len(self._buffer) < self.prefetch and self._drain(0.05):
            pass
        return self._handover()

    def _handover(self) -> list[Delivery]:
        batch, self._buffer = self._buffer, []
        return batch

    def _drain(self, timeout: float) -> bool:
        try:
            self._live.drain_events(timeout=timeout)
        except TimeoutError:
            self._live.heartbeat_check()
            return False
        return True

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds`` with the connection serviced (frames read, heartbeats sent); what
        arrives meanwhile is held for the next ``take``."""
        end = time.monotonic() + seconds
        while not stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            self._drain(min(1.0, left))

    def pause(self) -> None:
        """Stop the broker sending more (``basic.cancel``); held deliveries stay held."""
        if self._consumer is not None and not self._paused:
            self._consumer.cancel()
            self._paused = True

    def resume(self) -> None:
        """Consume again after ``pause``."""
        if self._consumer is not None and self._paused:
            self._consumer.consume()
            self._paused = False

    @property
    def paused(self) -> bool:
        """True between ``pause`` and ``resume``."""
        return self._paused

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a delivery on the dead-letter exchange with its reason, confirmed by the broker
        before this returns (the caller acks the original only then)."""
        if self._producer is None:
            raise ConnectionError("the consumer is not connected")
        headers = _forwardable(delivery.headers)
        headers[REASON_HEADER] = reason[:MAX_REASON_CHARS]
        headers["x-billsync-queue"] = self.topology.work_queue_name
        headers["x-billsync-at"] = time.time()
        content_type = delivery.message.content_type
        if not isinstance(content_type, str) or not content_type.isascii():
            headers["x-billsync-content-type"] = shown(content_type)
            content_type = None
        self._producer.publish(
            delivery.body,
            exchange=self.topology.dead_letter_exchange(),
            routing_key=self.topology.dead_letter_queue_name,
            headers=headers,
            content_type=content_type or "application/octet-stream",
            content_encoding="binary",
            delivery_mode=2,
            declare=[self.topology.dead_letter_queue()],
        )
        self.dead_lettered += 1
        log.warning("dead-lettered a message: %s", reason[:300])


def _forwardable(headers: dict[Any, Any]) -> dict[str, Any]:
    """Headers that can be published again: string keys, no deeper than a few tables."""

    def plain(value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            if depth > 4:
                return shown(value)
            return {str(k): plain(v, depth + 1) for k, v in list(value.items())[:100]}
        if isinstance(value, (list, tuple)):
            if depth > 4:
                return shown(value)
            return [plain(v, depth + 1) for v in list(value)[:100]]
        return value

    return {
        k if isinstance(k, str) else shown(k): plain(v, 0)
        for k, v in list(headers.items())[:100]
        if k != REFUSED_HEADER
    }
