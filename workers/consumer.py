"""The change consumer: kombu drives it, on RabbitMQ or on the embedded in-memory transport.

It takes up to ``prefetch`` messages at a time, merges the good ones into the store in one
transaction, dead-letters the bad ones with their reason, and acks only after the commit. A
message that was redelivered (a worker died holding it) is handled alone, behind a crash counter
in the store: a message that keeps killing workers is dead-lettered before it takes its
neighbours down with it. A redelivered message that was being handled when a worker stopped is a
suspect: it is handled after every other message the worker holds, so that its next crash sends
none of them back to the queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Producer
from kombu.message import Message as KombuMessage
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.broker.topology import Topology
from adapters.broker.urls import redact
from adapters.store.connect import root_cause, shown_url
from adapters.store.models import InflightMessage
from billsync.errors import InvalidMessage
from billsync.logs import ConnectionState
from billsync.messages import Message, parse_message
from workers.intake import Intake

log = logging.getLogger("billsync.consumer")

REASON_HEADER = "x-billsync-reason"
RECONNECT_BACKOFF_S = (0.5, 1, 2, 5, 10)
#: Exit status of a worker stopped by the ``fault_exit_on_record`` testing aid.
FAULT_EXIT_STATUS = 70


class ChangeConsumer:
    """Consumes the work queue until ``stop`` is set; reconnects after broker failures."""

    def __init__(
        self,
        url: str,
        topology: Topology,
        intake: Intake,
        sessions: sessionmaker[Session],
        on_due: Callable[[set[int]], None],
        *,
        prefetch: int,
        max_message_bytes: int,
        poison_limit: int,
        heartbeat: int = 20,
        exit_on_record: str | None = None,
    ) -> None:
        self.url = url
        self.topology = topology
        self.intake = intake
        self.sessions = sessions
        self.on_due = on_due
        self.prefetch = prefetch
        self.max_message_bytes = max_message_bytes
        self.poison_limit = poison_limit
        self.heartbeat = heartbeat
        self.exit_on_record = exit_on_record
        self._batch: list[KombuMessage] = []
        self.consumed = 0
        self.dead_lettered = 0
        self.ready = threading.Event()
        #: Logs ``connection.lost`` (with the cause) and ``connection.back`` once each.
        self.broker_state = ConnectionState("broker", redact(self.url))
        bind = getattr(sessions, "kw", {}).get("bind")
        self.store_state = ConnectionState("store", shown_url(str(bind.url)) if bind else "")

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop``; every broker failure leads to a reconnect with backoff."""
        failures = 0
        while not stop.is_set():
            try:
                self._session(stop)
                failures = 0
            except Exception as exc:
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                self.broker_state.lost(exc)
                log.debug("consumer reconnecting in %.1fs (%s)", delay, type(exc).__name__)
                self._batch.clear()
                stop.wait(delay)

    def _session(self, stop: threading.Event) -> None:
        options: dict[str, Any] = {}
        if self.url.startswith("memory"):
            options["transport_options"] = {"polling_interval": 0.01}
        with Connection(self.url, heartbeat=self.heartbeat, **options) as connection:
            connection.ensure_connection(max_retries=1)
            self.topology.declare(connection)
            self.broker_state.back()
            channel = connection.channel()
            producer = Producer(channel)
            consumer = Consumer(
                channel,
                queues=[self.topology.work_queue()],
                on_message=self._batch.append,
                prefetch_count=self.prefetch,
                no_ack=False,
            )
            with consumer:
                self.ready.set()
                while not stop.is_set():
                    self._drain(connection)
                    if self._batch:
                        batch, self._batch[:] = list(self._batch), []
                        self._handle(batch, producer, connection)

    def _drain(self, connection: Connection) -> None:
        try:
            connection.drain_events(timeout=0.2)
        except TimeoutError:
            connection.heartbeat_check()
            return
        deadline = time.monotonic() + 0.01
        while len(self._batch) < self.prefetch and time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=0.002)
            except TimeoutError:
                break

    def _handle(
        self, batch: list[KombuMessage], producer: Producer, connection: Connection
    ) -> None:
        suspects = self._handle_unsuspected(batch, producer, connection)
        if suspects:
            # A suspect may stop this worker again, and every message held unacked would go
            # back to the queue with it, one delivery closer to the limit: first take in what
            # the broker has already sent (up to the prefetch), and handle the rest of it.
            self._take_held(connection)
            held, self._batch[:] = list(self._batch), []
            suspects += self._handle_unsuspected(held, producer, connection)
        for message in suspects:
            self._handle_alone(message, producer, connection)

    def _handle_unsuspected(
        self, batch: list[KombuMessage], producer: Producer, connection: Connection
    ) -> list[KombuMessage]:
        """Merge the fresh messages, handle redelivered ones alone, and return the suspects:
        redelivered messages that were being handled alone when a worker stopped."""
        fresh = [m for m in batch if not m.delivery_info.get("redelivered")]
        redelivered = [m for m in batch if m.delivery_info.get("redelivered")]
        if fresh:
            self._merge(fresh, producer, connection)
        suspected = self._crash_counted({_message_key(m) for m in redelivered})
        suspects = []
        for message in redelivered:
            if _message_key(message) in suspected:
                suspects.append(message)
            else:
                self._handle_alone(message, producer, connection)
        return suspects

    def _crash_counted(self, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        with self.sessions() as session:
            rows = session.scalars(
                select(InflightMessage.message_key).where(InflightMessage.message_key.in_(keys))
            )
            return set(rows)

    def _take_held(self, connection: Connection) -> None:
        """Read the deliveries the broker has sent and this consumer has not taken yet."""
        while len(self._batch) < self.prefetch:
            try:
                connection.drain_events(timeout=0.05)
            except TimeoutError:
                return

    def _merge(self, batch: list[KombuMessage], producer: Producer, connection: Connection) -> None:
        good: list[Message] = []
        for raw in batch:
            try:
                good.append(parse_message(_body(raw), max_bytes=self.max_message_bytes))
            except InvalidMessage as exc:
                self._dead_letter(raw, str(exc), producer)
        if self.exit_on_record is not None:
            self._exit_if_faulty(good)
        result = self._apply_until_stored(good, connection)
        for raw in batch:
            raw.ack()
        self.consumed += len(batch)
        if result:
            self.on_due(result)

    def _exit_if_faulty(self, good: list[Message]) -> None:
        """The ``fault_exit_on_record`` testing aid: die hard, holding the batch unacked, as a
        worker that crashes on a message would (the reliability suite's poison message)."""
        if any(m.record_id == self.exit_on_record for m in good):
            log.error("fault injection: exiting on record %s", self.exit_on_record)
            logging.shutdown()
            os._exit(FAULT_EXIT_STATUS)

    def _apply_until_stored(self, good: list[Message], connection: Connection) -> set[int]:
        """Merge, retrying while the store is down (messages stay unacked, heartbeats go on)."""
        delay = 0.5
        while True:
            try:
                due = self.intake.apply(good).due
                self.store_state.back()
                return due
            except Exception as exc:
                self.store_state.lost(root_cause(exc))
                log.debug("store unavailable while merging; retrying in %.1fs", delay)
                end = time.monotonic() + delay
                while time.monotonic() < end:
                    connection.heartbeat_check()
                    time.sleep(min(1.0, delay))
                delay = min(delay * 2, 10.0)

    def _handle_alone(self, raw: KombuMessage, producer: Producer, connection: Connection) -> None:
        key = _message_key(raw)
        crashes = self._count_crash(key)
        if crashes >= self.poison_limit:
            self._dead_letter(
                raw,
                f"the message was being handled each of the {crashes} times "
                "a worker stopped; set aside so it cannot stop more",
                producer,
            )
            raw.ack()
            self._forget(key)
            return
        self._merge([raw], producer, connection)
        self._forget(key)

    def _count_crash(self, key: str) -> int:
        with self.sessions.begin() as session:
            row = session.get(InflightMessage, key)
            if row is None:
                session.add(InflightMessage(message_key=key, crashes=0, first_seen=time.time()))
                return 0
            row.crashes += 1
            return row.crashes

    def _forget(self, key: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(InflightMessage, key)
            if row is not None:
                session.delete(row)

    def _dead_letter(self, raw: KombuMessage, reason: str, producer: Producer) -> None:
        """Park a message on the dead-letter exchange with its reason; the caller acks it."""
        headers = dict(raw.headers or {})
        headers[REASON_HEADER] = reason[:2000]
        headers["x-billsync-queue"] = self.topology.work_queue_name
        headers["x-billsync-at"] = time.time()
        producer.publish(
            _body(raw),
            exchange=self.topology.dead_letter_exchange(),
            routing_key=self.topology.dead_letter_queue_name,
            headers=headers,
            content_type=raw.content_type or "application/octet-stream",
            content_encoding="binary",
            delivery_mode=2,
            declare=[self.topology.dead_letter_queue()],
        )
        self.dead_lettered += 1
        log.warning("dead-lettered a message: %s", reason[:300])


def _message_key(raw: KombuMessage) -> str:
    return hashlib.sha256(_body(raw)).hexdigest()


def _body(raw: KombuMessage) -> bytes:
    body = raw.body
    return body if isinstance(body, bytes) else str(body).encode()
