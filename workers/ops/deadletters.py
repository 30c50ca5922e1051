"""Dead letters: kept in the store with their reason, where operators list, inspect, replay and
purge them (``billsync dlq``).

Messages reach the dead-letter queue two ways: a worker parks one it cannot use (with an
``x-billsync-reason`` header), or RabbitMQ moves one past the delivery limit (with ``x-death``).
The archiver moves each into the store and acks it only after the commit, so none is lost, and the
operator's view does not depend on the broker's management plugin or on queue order.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Producer
from kombu.message import Message as KombuMessage

from adapters.broker.connections import BrokerTls, open_connection
from adapters.broker.topology import Topology
from adapters.broker.urls import failover_urls, redact
from adapters.broker.wire import REFUSED_HEADER, guard_channel, tolerate_invalid_utf8
from adapters.store.db import Session, Sessions
from adapters.store.dead_letter_listing import (
    LetterFilter,
    count_letters,
    delete_letters,
    existing_ids,
    find_letters,
)
from adapters.store.errors import StoreRefused, StoreUnavailable, translated
from adapters.store.models import DeadLetter
from adapters.store.operator_log import record_action
from billsync.errors import BillsyncError
from billsync.logs import ConnectionState
from billsync.messages import MAX_DEPTH, json_depth
from workers.ingest.parking import is_parked_event, request_replay

log = logging.getLogger("billsync.deadletters")

REASON_HEADER = "x-billsync-reason"
MAX_STORED_BYTES = 16 * 1024 * 1024
MAX_REASON_CHARS = 2000
#: Column sizes of the dead_letter table (a hostile header must not overflow them).
MAX_QUEUE_CHARS = 120
MAX_ID_CHARS = 128
#: Headers are stored this many tables deep at most; deeper ones are shown as text.
MAX_HEADER_DEPTH = 4
MAX_HEADER_ITEMS = 200
RECONNECT_BACKOFF_S = (0.5, 1, 2, 5, 10)
STORE_BACKOFF_S = (0.5, 1, 2, 5)


def reason_of(headers: dict[str, Any]) -> str:
    """The reason a dead letter carries: billsync's own header, else RabbitMQ's x-death."""
    if headers.get(REASON_HEADER):
        return _text(headers[REASON_HEADER])[:MAX_REASON_CHARS]
    refused = headers.get(REFUSED_HEADER)
    if refused:
        return _text(refused)[:MAX_REASON_CHARS]
    deaths = headers.get("x-death") or []
    if deaths and isinstance(deaths, list) and isinstance(deaths[0], dict):
        first = deaths[0]
        why = first.get("reason")
        if why == "delivery_limit":
            return (
                f"delivered more than the delivery limit from {_text(first.get('queue'))[:120]}: "
                "it crashed or stopped workers each time"
            )
        return f"dead-lettered by RabbitMQ from {_text(first.get('queue'))[:120]}: {_text(why)}"
    return "dead-lettered without a reason"


class DeadLetterArchiver:
    """Moves dead letters from the broker into the store until ``stop`` is set.

    Whatever a dead letter holds (a bz2 bomb, JSON nested 100,000 deep, a non-UTF-8 content
    type, headers that overflow a column), it is stored, as much of it as can be stored safely,
    and acked: a letter that cannot be stored whole is stored with its body and reason only. A
    store outage is waited out with the broker connection serviced; nothing loops.
    """

    def __init__(
        self,
        url: str,
        topology: Topology,
        sessions: Sessions,
        *,
        max_message_bytes: int = MAX_STORED_BYTES,
        heartbeat: int = 20,
        tls: BrokerTls | None = None,
    ) -> None:
        self.heartbeat = heartbeat
        self.url = url
        self.topology = topology
        self.sessions = sessions
        self.max_message_bytes = max_message_bytes
        self.tls = tls
        self.archived = 0
        self.dropped = 0
        self._held: list[KombuMessage] = []
        self._dropped: list[KombuMessage] = []

    def run(self, stop: threading.Event) -> None:
        """Archive until stopped, reconnecting (and failing over) after broker failures; one
        log line when the broker is lost and one when it is back."""
        urls = failover_urls(self.url)
        self.state = ConnectionState("broker (dead-letter archiver)", redact(self.url))
        failures = 0
        while not stop.is_set():
            url = urls[failures % len(urls)]
            try:
                self._session(stop, url, reconnected=failures > 0)
                return
            except Exception as exc:
                if failures == 0:
                    self.state.lost(exc)
                self._held.clear()
                self._dropped.clear()
                stop.wait(RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)])
                failures += 1

    def _session(self, stop: threading.Event, url: str, *, reconnected: bool) -> None:
        tolerate_invalid_utf8()
        with open_connection(url, heartbeat=self.heartbeat, tls=self.tls) as connection:
            connection.ensure_connection(max_retries=1)
            self.topology.declare(connection)
            self.state.back()
            if reconnected:
                log.info("dead-letter archiver reconnected to %s", redact(url))
            channel = connection.channel()
            # The guard takes a compression header off before kombu could decompress the body.
            guard_channel(channel, max_bytes=MAX_STORED_BYTES)
            letters = Consumer(
                channel,
                queues=[self.topology.dead_letter_queue()],
                on_message=self._held.append,
                prefetch_count=50,
                no_ack=False,
            )
            dropped = Consumer(
                channel,
                queues=[self.topology.dropped_queue()],
                on_message=self._dropped.append,
                prefetch_count=50,
                no_ack=False,
            )
            with letters, dropped:
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=0.5)
                    except TimeoutError:
                        connection.heartbeat_check()
                    self._count_dropped()
                    while self._held and not stop.is_set():
                        self._store_waiting(self._held[0], connection, stop)
                        self._held.pop(0).ack()
                        self.archived += 1

    def _count_dropped(self) -> None:
        for message in self._dropped:
            self.dropped += 1
            headers = dict(message.headers or {})
            log.warning(
                "the dead-letter queue %s was full: the broker dropped its oldest dead letter "
                "(message id %s, reason: %s); %d dropped so far",
                self.topology.dead_letter_queue_name,
                _message_id(_body_of(message)),
                reason_of(headers)[:200],
                self.dropped,
            )
            message.ack()
        self._dropped.clear()

    def _store_waiting(
        self, message: KombuMessage, connection: Connection, stop: threading.Event
    ) -> None:
        """Store one letter; wait out a store outage with the connection serviced."""
        failures = 0
        while True:
            try:
                self._store(message)
                if failures:
                    log.warning("dead-letter archiver: the store is back")
                return
            except StoreUnavailable as exc:
                if failures == 0:
                    log.warning("dead-letter archiver: %s; waiting for it", exc)
                end = time.monotonic() + STORE_BACKOFF_S[min(failures, len(STORE_BACKOFF_S) - 1)]
                failures += 1
                while time.monotonic() < end:
                    if stop.is_set():
                        raise
                    try:
                        connection.drain_events(timeout=min(1.0, end - time.monotonic()))
                    except TimeoutError:
                        connection.heartbeat_check()

    def _store(self, message: KombuMessage) -> None:
        body = _body_of(message)
        try:
            headers = _plain(dict(message.headers or {}), 0)
        except Exception:  # headers beyond any repair: keep the letter without them
            headers = {"x-billsync-headers": "unreadable"}
        if message.content_type is not None and "x-billsync-content-type" not in headers:
            headers["x-billsync-content-type"] = _text(message.content_type)[:200]
        letter = {
            "message_id": _message_id(body),
            "reason": reason_of(headers),
            "source_queue": _text(
                headers.get("x-billsync-queue")
                or headers.get("x-first-death-queue")
                or self.topology.work_queue_name
            )[:MAX_QUEUE_CHARS],
            "headers": headers,
            "body": body[:MAX_STORED_BYTES],
            "size": len(body),
        }
        try:
            self._insert(letter)
        except StoreRefused as exc:
            log.warning("dead letter stored without its headers: %s", exc)
            letter["headers"] = {"x-billsync-headers": f"not storable: {exc}"[:500]}
            letter["message_id"] = None
            self._insert(letter)

    def _insert(self, letter: dict[str, Any]) -> None:
        with translated(), self.sessions.begin() as session:
            session.add(DeadLetter(received_at=time.time(), **letter))


@dataclass(frozen=True)
class DeadLetterView:
    """One dead letter as the CLI shows it."""

    id: int
    reason: str
    size: int
    received_at: float
    replayed_at: float | None
    message_id: str | None
    source_queue: str | None


@dataclass(frozen=True)
class LetterListing:
    """A page of dead letters and how many match in all."""

    total: int
    letters: list[DeadLetterView]


def list_dead_letters(
    sessions: Sessions,
    *,
    include_replayed: bool = False,
    limit: int | None = 100,
    where: LetterFilter | None = None,
) -> list[DeadLetterView]:
    """Dead letters, newest first."""
    return find_dead_letters(
        sessions, where or LetterFilter(include_replayed=include_replayed), limit=limit
    ).letters


def find_dead_letters(
    sessions: Sessions, where: LetterFilter, *, limit: int | None
) -> LetterListing:
    """Dead letters matching ``where``, newest first, with the true total."""
    with sessions() as session:
        return LetterListing(
            count_letters(session, where),
            [_view(d) for d in find_letters(session, where, limit=limit)],
        )


def count_dead_letters(sessions: Sessions) -> int:
    """Dead letters not yet replayed."""
    with sessions() as session:
        return count_letters(session, LetterFilter())


def get_dead_letter(sessions: Sessions, letter_id: int) -> DeadLetter | None:
    """One dead letter with body and headers."""
    with sessions() as session:
        return session.get(DeadLetter, letter_id)


class UnknownLetters(BillsyncError):
    """Dead letters named by id that the store does not hold (the CLI exits 4)."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"no dead letter {', '.join(str(i) for i in ids)}")
        self.ids = ids


@dataclass(frozen=True)
class LetterAction:
    """The dead letters an operator action chose (all of them acted on, unless ``dry_run``)."""

    ids: list[int]
    dry_run: bool


def _chosen(session: Session, where: LetterFilter) -> list[DeadLetter]:
    if where.ids:
        missing = sorted(set(where.ids) - existing_ids(session, list(where.ids)))
        if missing:
            raise UnknownLetters(missing)
    return sorted(find_letters(session, where), key=lambda d: d.id)


def replay(sessions: Sessions, url: str, topology: Topology, ids: list[int] | None) -> int:
    """Replay the dead letters ``ids`` (every one not replayed when None); how many were."""
    where = LetterFilter(ids=tuple(ids or ()))
    return len(replay_chosen(sessions, url, topology, where, actor="billsync").ids)


def purge(sessions: Sessions, ids: list[int] | None) -> int:
    """Delete the dead letters ``ids`` (every one when None); how many were."""
    where = LetterFilter(ids=tuple(ids or ()), include_replayed=True)
    return len(purge_chosen(sessions, where, actor="billsync").ids)


def replay_chosen(
    sessions: Sessions,
    url: str,
    topology: Topology,
    where: LetterFilter,
    *,
    dry_run: bool = False,
    actor: str = "",
) -> LetterAction:
    """Publish the dead letters ``where`` chooses (never replayed ones: the filter excludes
    them) back to the work queue, record the action, and mark them replayed."""
    with sessions.begin() as session:
        letters = _chosen(session, where)
        ids = [d.id for d in letters]
        if dry_run or not letters:
            return LetterAction(ids, dry_run)
        # Each replay is confirmed by the broker (and routed: mandatory) before it counts as
        # replayed; a failure rolls back, so the letters stay listed for another try.
        with open_connection(failover_urls(url)[0], confirm_publish=True) as connection:
            topology.declare(connection)
            producer = Producer(connection.channel())
            for letter in letters:
                if is_parked_event(letter):
                    request_replay(letter)  # the ingest handles it again, then marks it
                    continue
                producer.publish(
                    letter.body,
                    exchange=topology.exchange(),
                    routing_key=topology.routing_key,
                    content_type="application/json",
                    content_encoding="binary",
                    delivery_mode=2,
                    mandatory=True,
                    headers={"x-billsync-replayed-from": letter.id},
                )
                letter.replayed_at = time.time()
        record_action(session, actor=actor, action="dlq-replay", targets=[f"dlq:{i}" for i in ids])
        return LetterAction(ids, False)


def purge_chosen(
    sessions: Sessions,
    where: LetterFilter,
    *,
    dry_run: bool = False,
    actor: str = "",
) -> LetterAction:
    """Delete the dead letters ``where`` chooses, recording the action (with each letter's
    reason, since the letter itself is gone)."""
    with sessions.begin() as session:
        letters = _chosen(session, where)
        ids = [d.id for d in letters]
        if dry_run or not letters:
            return LetterAction(ids, dry_run)
        for letter in letters:
            record_action(
                session,
                actor=actor,
                action="dlq-purge",
                targets=[f"dlq:{letter.id}"],
                detail={"reason": letter.reason[:500], "message_id": letter.message_id},
            )
        delete_letters(session, ids)
        return LetterAction(ids, False)


def _view(letter: DeadLetter) -> DeadLetterView:
    return DeadLetterView(
        id=letter.id,
        reason=letter.reason,
        size=letter.size,
        received_at=letter.received_at,
        replayed_at=letter.replayed_at,
        message_id=letter.message_id,
        source_queue=letter.source_queue,
    )


def _message_id(body: bytes) -> str | None:
    """The ``id`` of a JSON body, when it is a billsync message; None for anything else (never
    parses what nests too deep or is too large)."""
    if len(body) > 1_000_000 or json_depth(body) > MAX_DEPTH:
        return None
    try:
        value = json.loads(body).get("id")
    except Exception:
        return None
    return _text(value)[:MAX_ID_CHARS] if value is not None else None


def _body_of(message: KombuMessage) -> bytes:
    body = message.body
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8", "surrogateescape")


def _text(value: Any) -> str:
    """Text safe for a JSON or text column: valid UTF-8, no NUL."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = str(value)
    if not text.isascii():
        try:  # bytes that were not UTF-8 (decoded with surrogateescape) shown as \xNN
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


def _plain(value: Any, depth: int) -> Any:
    """Headers made JSON-safe (x-death holds datetimes and nested tables), bounded in depth and
    size, with text that PostgreSQL accepts."""
    if isinstance(value, dict):
        if depth >= MAX_HEADER_DEPTH:
            return _text(repr(value)[:200])
        items = list(value.items())[:MAX_HEADER_ITEMS]
        return {_text(k)[:200]: _plain(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        if depth >= MAX_HEADER_DEPTH:
            return _text(repr(value)[:200])
        return [_plain(v, depth + 1) for v in list(value)[:MAX_HEADER_ITEMS]]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    return _text(value)[:MAX_REASON_CHARS]
