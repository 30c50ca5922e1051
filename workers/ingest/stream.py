"""The streaming ingest: Salesforce change events in, confirmed broker messages out (SPEC §4).

``StreamIngest.run(stop)`` long-polls the Streaming API (``StreamingClient``), turns each event
into messages (``ingest_events``), publishes them through the pipelined confirmed publisher, and
moves a channel's stored replay id past an event only once every message of that event, and of
every event before it, is confirmed by the broker. A crash at any point therefore replays from the
last safe position: events may arrive twice (harmless, SPEC §2), never zero times.

How each event is tracked: it gets a ticket in a FIFO with the number of its messages still
unconfirmed. The publisher runs ``on_confirm`` callbacks in publication order; each confirm
decrements its ticket and pops every finished ticket at the head, advancing that channel's safe
cursor. Nothing waits for confirms while events keep coming: the confirm window bounds what is in
flight, callbacks run during later publishes, and the advanced cursors are saved at most every
``save_interval_s``. Once no batch has arrived for ``idle_settle_s`` (the stream is idle and the
next long poll may be held for minutes), a watcher thread waits for every outstanding confirm and
saves the cursors; so does the end of a run. A lock keeps the two threads apart.

When the stream cannot be trusted the ingest re-reads Salesforce by SOQL (``ingest_reread``): gap
events re-read their records, overflow events their whole object, and a stored position that is
older than the retention, refused as invalid, or never had an event (``-1``) is reconciled by
reading the records changed since its time; then the channel continues with ``-1``.

One ingest per store publishes at a time: ``run`` first takes the stream's lease
(``ingest_lease``), so a second ``billsync ingest`` waits as a standby and takes over, from the
saved cursors, within seconds of the first one dying. A cursor save checks the lease in the same
transaction, and a stored cursor never moves back to an earlier event.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from adapters.broker.connections import BrokerTls
from adapters.broker.publisher import ConfirmedPublisher, open_publisher
from adapters.broker.topology import Topology
from adapters.salesforce.rest import SalesforceClient
from adapters.salesforce.streaming import REPLAY_NEW, StreamEvent, StreamingClient, backoff_delay
from adapters.store import cursors, record_reads
from adapters.store.db import Sessions
from billsync.errors import TransientError
from billsync.logs import ConnectionState
from billsync.messages import Message, encode, now_ms
from statemachine.fieldmap import FieldMap
from workers.ingest.counters import IngestMetrics
from workers.ingest.cursors import LISTENING, Cursor, CursorFenced, CursorStore
from workers.ingest.events import Interpretation, channel_objects, interpret
from workers.ingest.lease import StreamLease
from workers.ingest.parking import EventParking
from workers.ingest.reread import Rereader

log = logging.getLogger("billsync.ingest")

#: Reconciliation reads from this long before the stored time (clock skew, commit vs. modstamp).
RECONCILE_MARGIN_MS = 60_000
SUMMARY_INTERVAL_S = 10.0
#: While batches keep coming, advanced cursors are saved at most this often (one commit each).
SAVE_INTERVAL_S = 0.25
#: After this long without a batch, outstanding confirms are awaited and the cursors saved.
IDLE_SETTLE_S = 0.05
WATCH_TICK_S = 0.05
#: Confirms in flight. Throughput is at most window / confirm latency, and a quorum queue confirms
#: after its log write (10 to 40 ms on a busy machine): 256 capped the ingest near 20,000 msg/s
#: here, 1,024 no longer does (docs/ingest.md). A failure republishes at most this many.
INGEST_WINDOW = 1024
RESTART_BACKOFF_CAP_S = 30.0
FLUSH_TIMEOUT_S = 30.0


class PublisherLost(Exception):
    """The confirmed publisher failed: what it had not confirmed must be replayed.

    Deliberately not a ``TransientError``, so that it escapes the streaming client's own retry
    loop and reaches ``run``, which opens a new publisher and resubscribes from the safe cursors.
    """


@dataclass(frozen=True)
class StreamOptions:
    """What the ingest streams and how: plain values, read from the settings by the composition
    root (``billsync.bootstrap.stream_ingest``)."""

    channels: tuple[str, ...]
    instance_url: str
    api_version: str
    call_client: str
    retention_hours: float
    lease_ttl_s: float


@dataclass
class _Ticket:
    """One event's place in the confirm order, and how many of its messages are unconfirmed."""

    channel: str
    replay_id: int
    event_time_ms: int
    outstanding: int = 0
    sealed: bool = False


class StreamIngest:
    """The ``billsync ingest`` producer, usable as a thread (``billsync demo``) or a process.

    ``metrics`` holds the counters; ``ready`` is set once the first subscription succeeded.
    """

    def __init__(
        self,
        sessions: Sessions,
        salesforce: SalesforceClient,
        publisher_url: str,
        *,
        stream: StreamOptions,
        topology: Topology,
        field_map: FieldMap,
        tls: BrokerTls | None = None,
        window: int = INGEST_WINDOW,
        summary_interval_s: float = SUMMARY_INTERVAL_S,
        save_interval_s: float = SAVE_INTERVAL_S,
        idle_settle_s: float = IDLE_SETTLE_S,
        clock_ms: Callable[[], int] = now_ms,
        holder: str | None = None,
    ) -> None:
        self.options = stream
        self.salesforce = salesforce
        self.publisher_url = publisher_url
        self.topology = topology
        self._routing_key = self.topology.routing_key
        self.channels = stream.channels
        self.window = window
        self.summary_interval_s = summary_interval_s
        self.save_interval_s = save_interval_s
        self.idle_settle_s = idle_settle_s
        self.clock_ms = clock_ms
        self.retention_ms = int(stream.retention_hours * 3_600_000)
        self.cursors = CursorStore(sessions)
        self.rereader = Rereader(salesforce, field_map)
        self.parking = EventParking(sessions, passthrough=(PublisherLost,))
        self.tls = tls
        self.metrics = IngestMetrics()
        self.lease = StreamLease(
            sessions, holder or ingest_identity(), ttl_s=stream.lease_ttl_s, clock=time.time
        )
        self._halt = threading.Event()
        self.ready = threading.Event()
        #: ``connection.lost`` / ``connection.back``, once per change of the stream's state.
        self.stream_state = ConnectionState("salesforce stream", stream.instance_url)
        self._safe: dict[str, Cursor] = {}
        self._dirty: set[str] = set()
        self._tickets: deque[_Ticket] = deque()
        self._publisher: ConfirmedPublisher | None = None
        self._stream: StreamingClient | None = None
        # The producer thread and the watcher's idle settle never touch the publisher, the
        # tickets or the cursors at the same time (re-entrant: a reconcile runs inside a batch).
        self._lock = threading.RLock()
        self._unsettled = False
        self._last_batch = time.monotonic()
        self._last_save = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Ingest until ``stop`` is set; then flush, save cursors and disconnect.

        Only one ingest per store publishes at a time (``workers.ingest.lease``): this one
        waits as a standby until it holds the stream's lease, publishes while it keeps it, and
        goes back to waiting if it loses it. Broker and Salesforce failures are retried with
        backoff, resuming from the saved cursors; a PermanentError (refused credentials, a
        channel that does not exist) ends the run by raising it.
        """
        while not stop.is_set():
            if not self.lease.acquire(stop):
                return
            halt = threading.Event()
            keeper = threading.Thread(
                target=self.lease.keep, args=(stop, halt), name="billsync-ingest-lease", daemon=True
            )
            keeper.start()
            self._halt = halt
            try:
                self._run_active(halt)
            finally:
                halt.set()
                keeper.join(timeout=5)
                if stop.is_set():
                    self.lease.release()

    def _run_active(self, stop: threading.Event) -> None:
        """Publish while this ingest holds the stream (``stop``: asked to stop, or lease lost)."""
        self._safe = self.cursors.load_all()
        self._dirty.clear()
        finished = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(stop, finished), name="billsync-ingest-watch", daemon=True
        )
        watcher.start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self._stream_once(stop)
                    failures = 0
                except (TransientError, PublisherLost) as exc:
                    failures += 1
                    self.metrics.publisher_failures += isinstance(exc, PublisherLost)
                    self.stream_state.lost(exc)
                    log.debug("ingest interrupted (%s); resuming from the saved cursors", exc)
                    stop.wait(backoff_delay(failures, cap=RESTART_BACKOFF_CAP_S))
        finally:
            finished.set()
            watcher.join(timeout=5)
            self._save_dirty()
            log.info("%s (stopped)", self.metrics.summary())

    def _stream_once(self, stop: threading.Event) -> None:
        """One publisher and one streaming session, until stop or a failure."""
        publisher = open_publisher(
            self.publisher_url, self.topology, window=self.window, tls=self.tls
        )
        with self._lock:
            self._tickets.clear()
            self._publisher = publisher
        stream = StreamingClient(
            self.salesforce.auth,
            self.channels,
            api_version=self.options.api_version,
            replay_from=self._replay_from,
            on_invalid_replay=self._on_invalid_replay,
        )
        self._stream = stream
        try:
            for batch in stream.events(stop):
                self.handle_batch(batch)
            self.settle()  # the batch in hand is confirmed and saved before the publisher goes
        finally:
            self._stream = None
            stream.close()
            with self._lock:
                self._tickets.clear()
                self._publisher = None
                self._unsettled = False
            publisher.close()

    def _watch(self, stop: threading.Event, finished: threading.Event) -> None:
        """Readiness, the idle settle, the periodic summary line, ending a long poll on stop."""
        last_summary = time.monotonic()
        while not stop.wait(WATCH_TICK_S) and not finished.is_set():
            stream = self._stream
            if stream is not None and stream.subscriptions > 0:
                self.ready.set()
                self.stream_state.back()
            if self._unsettled and time.monotonic() - self._last_batch >= self.idle_settle_s:
                self._settle_when_idle()
            if time.monotonic() - last_summary >= self.summary_interval_s:
                last_summary = time.monotonic()
                log.info(self.metrics.summary())
            if self._publisher is not None:
                self._replay_parked()
        stream = self._stream
        if stream is not None:
            stream.close()

    def _replay_parked(self) -> None:
        """Handle the parked events an operator asked to replay (``billsync dlq replay``)."""
        try:
            self.parking.replay_requested(self.handle_batch)
        except Exception as exc:
            log.warning("replaying parked events failed (%s); will try again", exc)

    def _settle_when_idle(self) -> None:
        """Settle from the watcher; a failed publisher ends the stream so that run recovers."""
        if not self._lock.acquire(blocking=False):
            return  # the producer thread is busy (a batch or a reconciliation): try next tick
        try:
            self.settle()
        except PublisherLost as exc:
            log.warning("waiting for confirms failed (%s); restarting the stream", exc)
            stream = self._stream
            if stream is not None:
                stream.close()
        finally:
            self._lock.release()

    def use_publisher(self, publisher: ConfirmedPublisher | None) -> None:
        """Publish ``handle_batch``'s messages through ``publisher`` (benchmarks, embedding).

        ``run`` opens and closes its own publisher; this is for driving ``handle_batch``
        directly, without a stream: call ``settle()`` after the last batch.
        """
        with self._lock:
            self._publisher = publisher
            self._tickets.clear()
            self._unsettled = False

    def settle(self) -> None:
        """Wait for every outstanding confirm, then save the advanced cursors.

        ``run`` does this when the stream goes idle and when it ends. Raises PublisherLost when
        the broker did not confirm everything.
        """
        with self._lock:
            if self._publisher is not None:
                self._flush()
            self._save_dirty()
            self._unsettled = False

    # -- events ------------------------------------------------------------------------------

    def handle_batch(self, batch: Iterable[StreamEvent]) -> None:
        """Publish a batch's messages; save the cursors that confirms advanced, if it is time.

        Does not wait for this batch's confirms (``settle`` does): a cursor moves only past
        events whose every message, and every earlier event's, the broker confirmed.
        """
        with self._lock:
            self._handle_batch(batch)
            self._last_batch = time.monotonic()

    def _handle_batch(self, batch: Iterable[StreamEvent]) -> None:
        self._unsettled = True
        for event in batch:
            self.metrics.events_received += 1
            meaning = interpret(
                event.channel,
                event.replay_id,
                event.payload,
                call_client=self.options.call_client,
                received_ms=int(event.received_at * 1000),
            )
            ticket = _Ticket(event.channel, event.replay_id, meaning.event_time_ms)
            self._tickets.append(ticket)
            with self.parking.guard(event):  # one bad event is parked; the stream goes on
                for message in self._messages(event, meaning):
                    self._publish(message, ticket)
            ticket.sealed = True
            self._advance()
        if time.monotonic() - self._last_save >= self.save_interval_s:
            self._save_dirty()

    def _messages(self, event: StreamEvent, meaning: Interpretation) -> Iterable[Message]:
        kind = meaning.kind
        if kind == "own-write":
            self.metrics.skipped_own_writes += 1
        elif kind == "ignored":
            self.metrics.ignored += 1
            log.debug("ignored event %s on %s: %s", event.replay_id, event.channel, meaning.reason)
        elif kind == "push":
            self.metrics.push_requests += 1
        elif kind == "gap":
            self.metrics.gap_events += 1
            log.info(
                "gap event on %s: re-reading %d record(s)", event.channel, len(meaning.record_ids)
            )
            return self._counted_snapshots(
                self.rereader.records(
                    meaning.object_name,
                    meaning.record_ids,
                    id_prefix=f"{event.channel}:{event.replay_id}",
                    commit_timestamp=meaning.commit_timestamp,
                )
            )
        elif kind == "overflow":
            self.metrics.overflow_events += 1
            log.warning(
                "overflow event on %s: re-reading every %s", event.channel, meaning.object_name
            )
            return self._counted_snapshots(
                self.rereader.whole_object(
                    meaning.object_name, id_prefix=f"{event.channel}:{event.replay_id}"
                )
            )
        return meaning.messages

    def _counted_snapshots(self, messages: Iterable[Message]) -> Iterable[Message]:
        for message in messages:
            self.metrics.snapshots_published += 1
            yield message

    # -- publishing and the confirm order ----------------------------------------------------

    def _publish(self, message: Message, ticket: _Ticket | None) -> None:
        publisher = self._publisher
        if publisher is None:
            raise PublisherLost("no publisher")
        if ticket is not None:
            ticket.outstanding += 1
        lag_from = ticket.event_time_ms if ticket is not None else 0
        on_confirm = functools.partial(self._confirmed, ticket, lag_from)
        self.metrics.messages_published += 1
        try:
            publisher.publish(encode(message), routing_key=self._routing_key, on_confirm=on_confirm)
        except TransientError as exc:
            raise PublisherLost(str(exc)) from None

    def _confirmed(self, ticket: _Ticket | None, lag_from_ms: int) -> None:
        self.metrics.confirmed(lag_from_ms, self.clock_ms())
        if ticket is not None:
            ticket.outstanding -= 1
            self._advance()

    def _advance(self) -> None:
        """Pop finished tickets at the head of the order; each advances its channel's cursor."""
        tickets = self._tickets
        while tickets and tickets[0].sealed and tickets[0].outstanding <= 0:
            done = tickets.popleft()
            self._safe[done.channel] = Cursor(done.channel, done.replay_id, done.event_time_ms)
            self._dirty.add(done.channel)

    def _flush(self) -> None:
        publisher = self._publisher
        if publisher is None:
            raise PublisherLost("no publisher")
        try:
            publisher.flush(timeout=FLUSH_TIMEOUT_S)
        except TransientError as exc:
            raise PublisherLost(str(exc)) from None
        self._advance()

    def _save_dirty(self) -> None:
        if not self._dirty:
            return
        chosen = [self._safe[c] for c in sorted(self._dirty) if c in self._safe]
        try:
            # Driven without ``run`` (``use_publisher``), no lease was taken and none is checked.
            guard = self.lease.holds if self.lease.epoch is not None else None
            self.cursors.save(chosen, guard=guard)
        except CursorFenced:
            log.error("another ingest took the stream over; not saving, stopping publishing")
            self._dirty.clear()
            self._halt.set()
            stream = self._stream
            if stream is not None:
                stream.close()
            return
        self._dirty.clear()
        self._last_save = time.monotonic()
        self.metrics.cursor_saves += 1

    # -- where to resume ---------------------------------------------------------------------

    def _replay_from(self, channel: str) -> int:
        """The replay id to subscribe from; reconciles first when the position is not usable."""
        with self._lock:
            return self._choose_replay(channel)

    def _choose_replay(self, channel: str) -> int:
        cursor = self._safe.get(channel)
        now = self.clock_ms()
        if cursor is None:
            self._remember_listening(channel, now)
            return REPLAY_NEW
        if cursor.listening_only:
            return self._reconcile(channel, cursor.event_time_ms, "no event since subscribing")
        if now - cursor.event_time_ms > self.retention_ms:
            return self._reconcile(channel, cursor.event_time_ms, "stored replay id too old")
        return cursor.replay_id

    def _on_invalid_replay(self, channel: str) -> int:
        with self._lock:
            cursor = self._safe.get(channel)
            since = cursor.event_time_ms if cursor else self.clock_ms() - self.retention_ms
            return self._reconcile(channel, since, "replay id refused by Salesforce")

    def _reconcile(self, channel: str, since_ms: int, reason: str) -> int:
        """Publish snapshots of the records changed since ``since_ms``; continue with ``-1``."""
        started = self.clock_ms()
        objects = channel_objects(channel)
        if not objects:
            self._remember_listening(channel, started)
            return REPLAY_NEW
        log.info("reconciling %s since %d (%s)", channel, since_ms, reason)
        prefix = f"reconcile:{channel}:{started}"
        for object_name in objects:
            for message in self.rereader.changed_since(
                object_name, since_ms - RECONCILE_MARGIN_MS, id_prefix=prefix
            ):
                self.metrics.snapshots_published += 1
                self._publish(message, None)
        self._flush()
        self.metrics.reconciliations += 1
        self._remember_listening(channel, started)
        return REPLAY_NEW

    def _remember_listening(self, channel: str, since_ms: int) -> None:
        self._safe[channel] = Cursor(channel, LISTENING, since_ms)
        self._dirty.add(channel)
        self._save_dirty()


def ingest_identity() -> str:
    """host:pid:random, the lease holder's name (shown to operators)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backfill_hint(sessions: Sessions) -> str | None:
    """One line for an empty store: a stream alone never loads the records that already exist."""
    with sessions() as session:
        empty = not record_reads.any_seen(session) and not cursors.any_cursor(session)
    if empty:
        return (
            "empty store: records that existed before billsync are not streamed; load them with "
            "`billsync backfill --dry-run`, then `billsync backfill` (docs/day-one.md)"
        )
    return None
