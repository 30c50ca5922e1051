"""Dead letters: kept in the store with their reason, where operators list, inspect, replay and
purge them (``billsync dlq``).

Messages reach the dead-letter queue two ways: a worker parks one it cannot use (with an
``x-billsync-reason`` header), or RabbitMQ moves one past the delivery limit (with ``x-death``).
The archiver moves each into the store and acks it only after the commit, so none is lost, and the
operator's view does not depend on the broker's management plugin or on queue order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Producer
from kombu.message import Message as KombuMessage
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from adapters.broker.topology import Topology
from adapters.broker.urls import redact
from adapters.store.dead_letter_listing import (
    LetterFilter,
    count_letters,
    existing_ids,
    find_letters,
)
from adapters.store.models import DeadLetter
from adapters.store.operator_log import record_action
from billsync.errors import BillsyncError
from billsync.logs import ConnectionState

log = logging.getLogger("billsync.deadletters")

REASON_HEADER = "x-billsync-reason"
MAX_STORED_BYTES = 16 * 1024 * 1024


def reason_of(headers: dict[str, Any]) -> str:
    """The reason a dead letter carries: billsync's own header, else RabbitMQ's x-death."""
    if headers.get(REASON_HEADER):
        return str(headers[REASON_HEADER])
    deaths = headers.get("x-death") or []
    if deaths:
        first = deaths[0]
        why = first.get("reason")
        if why == "delivery_limit":
            return (
                f"delivered more than the delivery limit from {first.get('queue')}: "
                "it crashed or stopped workers each time"
            )
        return f"dead-lettered by RabbitMQ from {first.get('queue')}: {why}"
    return "dead-lettered without a reason"


class DeadLetterArchiver:
    """Moves dead letters from the broker into the store until ``stop`` is set."""

    def __init__(self, url: str, topology: Topology, sessions: sessionmaker[Session]) -> None:
        self.url = url
        self.topology = topology
        self.sessions = sessions
        self.archived = 0

    def run(self, stop: threading.Event) -> None:
        """Archive until stopped, reconnecting after failures."""
        state = ConnectionState("broker (dead-letter archiver)", redact(self.url))
        while not stop.is_set():
            try:
                self._session(stop, state)
            except Exception as exc:
                state.lost(exc)
                stop.wait(2.0)

    def _session(self, stop: threading.Event, state: ConnectionState) -> None:
        options: dict[str, Any] = {}
        if self.url.startswith("memory"):
            options["transport_options"] = {"polling_interval": 0.05}
        with Connection(self.url, heartbeat=20, **options) as connection:
            self.topology.declare(connection)
            state.back()
            consumer = Consumer(
                connection.channel(),
                queues=[self.topology.dead_letter_queue()],
                on_message=self._archive,
                prefetch_count=50,
                no_ack=False,
            )
            with consumer:
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=0.5)
                    except TimeoutError:
                        connection.heartbeat_check()

    def _archive(self, message: KombuMessage) -> None:
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        headers = _plain(dict(message.headers or {}))
        with self.sessions.begin() as session:
            session.add(
                DeadLetter(
                    message_id=_message_id(body),
                    reason=reason_of(headers),
                    source_queue=str(
                        headers.get("x-billsync-queue")
                        or headers.get("x-first-death-queue")
                        or self.topology.work_queue_name
                    ),
                    headers=headers,
                    body=body[:MAX_STORED_BYTES],
                    size=len(body),
                    received_at=time.time(),
                )
            )
        message.ack()
        self.archived += 1


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
    sessions: sessionmaker[Session],
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
    sessions: sessionmaker[Session], where: LetterFilter, *, limit: int | None
) -> LetterListing:
    """Dead letters matching ``where``, newest first, with the true total."""
    with sessions() as session:
        return LetterListing(
            count_letters(session, where),
            [_view(d) for d in find_letters(session, where, limit=limit)],
        )


def count_dead_letters(sessions: sessionmaker[Session]) -> int:
    """Dead letters not yet replayed."""
    with sessions() as session:
        return count_letters(session, LetterFilter())


def get_dead_letter(sessions: sessionmaker[Session], letter_id: int) -> DeadLetter | None:
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


def replay(
    sessions: sessionmaker[Session], url: str, topology: Topology, ids: list[int] | None
) -> int:
    """Replay the dead letters ``ids`` (every one not replayed when None); how many were."""
    where = LetterFilter(ids=tuple(ids or ()))
    return len(replay_chosen(sessions, url, topology, where, actor="billsync").ids)


def purge(sessions: sessionmaker[Session], ids: list[int] | None) -> int:
    """Delete the dead letters ``ids`` (every one when None); how many were."""
    where = LetterFilter(ids=tuple(ids or ()), include_replayed=True)
    return len(purge_chosen(sessions, where, actor="billsync").ids)


def replay_chosen(
    sessions: sessionmaker[Session],
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
        with Connection(url) as connection:
            topology.declare(connection)
            producer = Producer(connection.channel())
            for letter in letters:
                producer.publish(
                    letter.body,
                    exchange=topology.exchange(),
                    routing_key=topology.routing_key,
                    content_type="application/json",
                    content_encoding="binary",
                    delivery_mode=2,
                    headers={"x-billsync-replayed-from": letter.id},
                )
                letter.replayed_at = time.time()
        record_action(session, actor=actor, action="dlq-replay", targets=[f"dlq:{i}" for i in ids])
        return LetterAction(ids, False)


def purge_chosen(
    sessions: sessionmaker[Session],
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
        session.execute(delete(DeadLetter).where(DeadLetter.id.in_(ids)))
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
    import json

    try:
        value = json.loads(body[:1_000_000]).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return str(value)[:128] if value is not None else None


def _plain(value: Any) -> Any:
    """Headers made JSON-safe (x-death holds datetimes and nested tables)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
