"""The change consumer's policy: batching, the poison limit, and acking after the commit.

The broker side (connection, guard, heartbeats, pause, confirmed dead letters) is
``adapters.broker.consumer.ConsumerLink``; this module decides what happens to each delivery.

- It takes up to ``prefetch`` deliveries at a time, merges the good ones into the store in one
  transaction, dead-letters the bad ones with their reason, and acks only after the commit.
- A store refusal of the data (``StoreRefused``: a value too long, a NUL byte, an integrity
  error) is one message's fault: the batch is split until that message is alone, and it is
  dead-lettered with the store's reason while the rest is merged.
- A store outage (``StoreUnavailable``) is nobody's fault: the consumer stops taking deliveries
  (``basic.cancel``), keeps the connection serviced while it waits, logs once when the store goes
  and once when it is back, and merges what it holds when it can. Nothing is redelivered, so
  nothing counts towards the poison limit.
- A redelivered message (a worker died holding it) is handled alone, behind a crash counter in the
  store: one that keeps killing workers is dead-lettered before it takes its neighbours with it.
  A redelivered message that was being handled alone when a worker stopped is a suspect: it is
  handled after every other message the worker holds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from adapters.broker.connections import BrokerTls
from adapters.broker.consumer import REASON_HEADER, ConsumerLink, Delivery
from adapters.broker.topology import Topology
from adapters.store import inflight
from adapters.store.connect import root_cause, shown_url
from adapters.store.db import Sessions
from adapters.store.errors import StoreRefused, StoreUnavailable, translated
from billsync.errors import InvalidMessage, TransientError
from billsync.logs import ConnectionState
from billsync.messages import Message, parse_message
from workers.sync.intake import Intake

log = logging.getLogger("billsync.consumer")

__all__ = ["FAULT_EXIT_STATUS", "REASON_HEADER", "ChangeConsumer"]

#: Exit status of a worker stopped by the ``fault_exit_on_record`` testing aid.
FAULT_EXIT_STATUS = 70
#: Waits between store attempts during an outage (the last repeats).
OUTAGE_BACKOFF_S = (0.5, 1, 2, 5)

T = TypeVar("T")


class ChangeConsumer:
    """Consumes the work queue until ``stop`` is set; reconnects after broker failures."""

    def __init__(
        self,
        url: str,
        topology: Topology,
        intake: Intake,
        sessions: Sessions,
        on_due: Callable[[set[int]], None],
        *,
        prefetch: int,
        max_message_bytes: int,
        poison_limit: int,
        heartbeat: int = 20,
        exit_on_record: str | None = None,
        tls: BrokerTls | None = None,
        hold: Callable[[], str | None] | None = None,
    ) -> None:
        self.link = ConsumerLink(
            url,
            topology,
            prefetch=prefetch,
            max_message_bytes=max_message_bytes,
            heartbeat=heartbeat,
            tls=tls,
        )
        self.url = url
        self.topology = topology
        self.intake = intake
        self.sessions = sessions
        self.on_due = on_due
        self.max_message_bytes = max_message_bytes
        self.poison_limit = poison_limit
        self.exit_on_record = exit_on_record
        self.consumed = 0
        self.store_outages = 0
        self.store_down_since: float | None = None
        #: Logs ``connection.lost`` (with the cause) and ``connection.back`` once each.
        bind = getattr(sessions, "kw", {}).get("bind")
        self.store_state = ConnectionState("store", shown_url(str(bind.url)) if bind else "")
        #: Salesforce as the merge reads it (completion on first sight).
        self.read_state = ConnectionState("salesforce (completion reads)")
        self.outage_state = self.store_state
        self.ready = self.link.ready
        #: Asked before each batch: a reason to take no new messages (an outside system the
        #: circuit breaker holds open, say), or None. While it holds, the consumer pauses.
        self.hold: Callable[[], str | None] = hold or (lambda: None)
        self.held_for: str | None = None
        self._stop = threading.Event()

    @property
    def dead_lettered(self) -> int:
        """Messages this consumer dead-lettered (refused, invalid, poison)."""
        return self.link.dead_lettered

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop``."""
        self._stop = stop
        self.link.serve(stop, self._consume)

    def _consume(self) -> None:
        while not self._stop.is_set():
            reason = self.hold()
            if reason:
                self._hold(reason)
                continue
            if self.held_for is not None:
                log.warning("no longer holding (%s); consuming", self.held_for)
                self.held_for = None
                self.link.resume()
            batch = self.link.take()
            if batch:
                self._handle(batch)

    def _hold(self, reason: str) -> None:
        """Take no new messages while ``hold`` gives a reason; the connection stays serviced."""
        if self.held_for is None:
            self.held_for = reason
            log.warning("holding: %s; taking no new messages", reason)
            self.link.pause()
        self.link.wait(1.0, self._stop)

    def _handle(self, batch: list[Delivery]) -> None:
        suspects = self._handle_unsuspected(batch)
        if suspects:
            # A suspect may stop this worker again, and every message held unacked would go
            # back to the queue with it, one delivery closer to the limit: first take in what
            # the broker has already sent (up to the prefetch), and handle the rest of it.
            suspects += self._handle_unsuspected(self.link.take_held())
        for delivery in suspects:
            self._handle_alone(delivery)

    def _handle_unsuspected(self, batch: list[Delivery]) -> list[Delivery]:
        """Merge the fresh deliveries, handle redelivered ones alone, and return the suspects:
        redelivered messages that were being handled alone when a worker stopped."""
        fresh = [d for d in batch if not d.redelivered]
        redelivered = [d for d in batch if d.redelivered]
        if fresh:
            self._merge(fresh)
        keys = {d.key for d in redelivered}
        suspected = self._with_store(lambda: self._crash_counted(keys)) if keys else set()
        suspects = []
        for delivery in redelivered:
            if delivery.key in suspected:
                suspects.append(delivery)
            else:
                self._handle_alone(delivery)
        return suspects

    def _merge(self, batch: list[Delivery]) -> None:
        good: list[tuple[Delivery, Message]] = []
        for delivery in batch:
            reason = delivery.refused
            if reason is None:
                try:
                    good.append(
                        (delivery, parse_message(delivery.body, max_bytes=self.max_message_bytes))
                    )
                    continue
                except InvalidMessage as exc:
                    reason = str(exc)
            self.link.dead_letter(delivery, reason)
        if self.exit_on_record is not None:
            self._exit_if_faulty([m for _, m in good])
        due = self._store(good)
        for delivery in batch:
            delivery.ack()
        self.consumed += len(batch)
        if due:
            self.on_due(due)

    def _store(self, items: list[tuple[Delivery, Message]]) -> set[int]:
        """Merge ``items``; a part the store refuses is split until the refused message is alone,
        and that message is dead-lettered with the store's reason."""
        due: set[int] = set()
        parts = [items] if items else []
        while parts:
            part = parts.pop()
            try:
                due |= self._with_store(lambda part=part: self._apply(part))  # type: ignore[misc]
            except StoreRefused as exc:
                if len(part) == 1:
                    self.link.dead_letter(part[0][0], str(exc))
                    continue
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]
        return due

    def _apply(self, part: list[tuple[Delivery, Message]]) -> set[int]:
        with translated():
            return self.intake.apply([m for _, m in part]).due

    def _with_store(self, work: Callable[[], T]) -> T:
        """Run ``work``; while the store is unavailable, pause consuming, keep the connection
        serviced, and try again (one log line when the store goes, one when it is back)."""
        failures = 0
        while True:
            try:
                result = work()
            except TransientError as exc:
                # The store, or an outside system a merge reads (Salesforce, to complete a
                # record first seen in part): an outage to wait out, never the message's fault.
                state = self.store_state if isinstance(exc, StoreUnavailable) else self.read_state
                if self.store_down_since is None:
                    self.store_down_since = time.monotonic()
                    self.store_outages += 1
                    self.outage_state = state
                    state.lost(root_cause(exc.__cause__ or exc))
                    log.warning("%s; holding the messages in hand, taking no more, waiting", exc)
                    self.link.pause()
                delay = OUTAGE_BACKOFF_S[min(failures, len(OUTAGE_BACKOFF_S) - 1)]
                failures += 1
                self.link.wait(delay, self._stop)
                if self._stop.is_set():
                    raise
                continue
            if self.store_down_since is not None:
                self.outage_state.back()
                log.warning(
                    "%s available again after %.0f s; consuming",
                    "store" if self.outage_state is self.store_state else "Salesforce",
                    time.monotonic() - self.store_down_since,
                )
                self.store_down_since = None
                self.link.resume()
            return result

    def _exit_if_faulty(self, good: list[Message]) -> None:
        """The ``fault_exit_on_record`` testing aid: die hard, holding the batch unacked, as a
        worker that crashes on a message would (the reliability suite's poison message)."""
        if any(m.record_id == self.exit_on_record for m in good):
            log.error("fault injection: exiting on record %s", self.exit_on_record)
            logging.shutdown()
            os._exit(FAULT_EXIT_STATUS)

    def _handle_alone(self, delivery: Delivery) -> None:
        key = delivery.key
        crashes = self._with_store(lambda: self._count_crash(key))
        if crashes >= self.poison_limit:
            self.link.dead_letter(
                delivery,
                f"the message was being handled each of the {crashes} times "
                "a worker stopped; set aside so it cannot stop more",
            )
            delivery.ack()
            self._with_store(lambda: self._forget(key))
            return
        try:
            self._merge([delivery])
        except Exception:
            # The broker link failed while this message was in hand: the worker did not stop,
            # so its next delivery must not count as a crash.
            self._forget_quietly(key)
            raise
        self._with_store(lambda: self._forget(key))

    def _crash_counted(self, keys: set[str]) -> set[str]:
        with translated(), self.sessions() as session:
            return inflight.crash_counted(session, keys)

    def _count_crash(self, key: str) -> int:
        with translated(), self.sessions.begin() as session:
            return inflight.count_crash(session, key, now=time.time())

    def _forget(self, key: str) -> None:
        with translated(), self.sessions.begin() as session:
            inflight.forget(session, key)

    def _forget_quietly(self, key: str) -> None:
        try:
            self._forget(key)
        except StoreUnavailable:
            log.warning("could not clear the crash mark of a message (store unavailable)")
