"""Parking: one streaming event the ingest cannot handle is set aside, not allowed to stop the
stream (issue 12, Build 5).

Before, an event whose handling raised a permanent error (a re-read refused by Salesforce, a
payload that tripped a bug) ended ``billsync ingest`` with exit 1, and every restart resumed at
the same event and exited again: ingestion stopped for good. Now such an event is parked with its
reason and the stream goes on (its cursor moves past it):

- a parked event is a dead letter whose source is ``ingest:<channel>``: ``billsync dlq list``
  shows it with its reason, ``billsync dlq show <id>`` its payload;
- ``billsync dlq replay <id>`` asks the ingest to handle it again: the running ingest picks the
  request up within ``REPLAY_CHECK_S`` and runs the event through the same path as a streamed
  one (parking it again, with the new reason, if it still fails).

Transient failures (Salesforce or the broker unavailable) are not parked: they interrupt the
stream, which resumes from the saved cursors, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from adapters.salesforce.streaming import StreamEvent
from adapters.store.db import Sessions
from adapters.store.dead_letter_listing import not_replayed_from
from adapters.store.errors import translated
from adapters.store.models import DeadLetter
from billsync.errors import TransientError

log = logging.getLogger("billsync.ingest")

SOURCE_PREFIX = "ingest:"
CHANNEL_HEADER = "x-billsync-event-channel"
REPLAY_ID_HEADER = "x-billsync-event-replay-id"
#: Set by ``billsync dlq replay`` on a parked event: the ingest handles it again.
REPLAY_REQUESTED_HEADER = "x-billsync-replay-requested"
REPLAY_CHECK_S = 10.0
MAX_REASON_CHARS = 2000


def is_parked_event(letter: DeadLetter) -> bool:
    """True for a dead letter that is a parked streaming event (not a queued message)."""
    return (letter.source_queue or "").startswith(SOURCE_PREFIX)


def request_replay(letter: DeadLetter) -> None:
    """Mark a parked event for the ingest to handle again (``billsync dlq replay``)."""
    letter.headers = {**(letter.headers or {}), REPLAY_REQUESTED_HEADER: time.time()}


class EventParking:
    """Parks events that failed for good, and hands back those an operator asked to replay."""

    def __init__(
        self, sessions: Sessions, *, passthrough: tuple[type[Exception], ...] = ()
    ) -> None:
        self.sessions = sessions
        self.passthrough = passthrough
        self.parked = 0
        self._last_check = 0.0

    @contextlib.contextmanager
    def guard(self, event: StreamEvent) -> Iterator[None]:
        """Run the handling of ``event``; a failure that is not transient (nor one of
        ``passthrough``, the caller's own outage signals) parks it."""
        try:
            yield
        except TransientError:
            raise
        except Exception as exc:
            if isinstance(exc, self.passthrough):
                raise
            self.park(event, f"{type(exc).__name__}: {exc}")

    def park(self, event: StreamEvent, reason: str) -> None:
        """Store ``event`` with ``reason`` where operators see it; logs one line."""
        body = json.dumps(
            {"channel": event.channel, "replay_id": event.replay_id, "payload": event.payload},
            default=str,
        ).encode()
        with translated(), self.sessions.begin() as session:
            session.add(
                DeadLetter(
                    message_id=f"{event.channel}:{event.replay_id}"[:128],
                    reason=f"streaming event parked: {reason}"[:MAX_REASON_CHARS],
                    source_queue=f"{SOURCE_PREFIX}{event.channel}"[:120],
                    headers={CHANNEL_HEADER: event.channel, REPLAY_ID_HEADER: event.replay_id},
                    body=body,
                    size=len(body),
                    received_at=time.time(),
                )
            )
        self.parked += 1
        log.warning(
            "parked event %s on %s (%s); the stream goes on, see billsync dlq list",
            event.replay_id,
            event.channel,
            reason[:300],
        )

    def replay_requested(self, handle: Callable[[list[StreamEvent]], Any]) -> int:
        """Handle the parked events an operator asked to replay (at most every REPLAY_CHECK_S);
        returns how many were handled."""
        if time.monotonic() - self._last_check < REPLAY_CHECK_S:
            return 0
        self._last_check = time.monotonic()
        with self.sessions() as session:
            letters = [
                letter
                for letter in not_replayed_from(session, SOURCE_PREFIX)
                if (letter.headers or {}).get(REPLAY_REQUESTED_HEADER)
            ]
        for letter in letters:
            stored = json.loads(letter.body)
            event = StreamEvent(
                stored["channel"], int(stored["replay_id"]), stored["payload"], time.time()
            )
            handle([event])
            with self.sessions.begin() as session:
                row = session.get(DeadLetter, letter.id)
                if row is not None:
                    row.replayed_at = time.time()
            log.info("replayed parked event %s on %s", event.replay_id, event.channel)
        return len(letters)
