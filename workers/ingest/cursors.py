"""Stream cursors: each channel's last replay id that is safely in the broker, in the store.

A cursor is written only after every event up to it has been confirmed by the broker (the ingest
decides when); a restart subscribes from it. ``replay_id`` ``-1`` (``LISTENING``) records that the
ingest subscribed for new events only at ``event_time_ms`` without having seen one since: a
restart then reconciles from that time instead of silently skipping what happened meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from adapters.store import cursors as stored_cursors
from adapters.store.db import Session, Sessions
from adapters.store.models import StreamCursor

LISTENING = -1


@dataclass(frozen=True)
class Cursor:
    """A channel's position: the replay id to resume after and when that event was committed."""

    channel: str
    replay_id: int
    event_time_ms: int

    @property
    def listening_only(self) -> bool:
        """True when no event was seen since subscribing for new events only."""
        return self.replay_id == LISTENING


class CursorFenced(Exception):
    """The guard of a save said no (this ingest no longer holds the stream): nothing saved."""


class CursorStore:
    """Reads and writes ``stream_cursor`` rows (one short transaction per call)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def load_all(self) -> dict[str, Cursor]:
        """Every stored cursor, by channel."""
        with self.sessions() as session:
            rows = stored_cursors.every_cursor(session)
            return {r.channel: Cursor(r.channel, r.replay_id, r.event_time_ms) for r in rows}

    def save(
        self, cursors: Iterable[Cursor], *, guard: Callable[[Session], bool] | None = None
    ) -> int:
        """Insert or update the given cursors in one transaction; how many were written.

        ``guard`` runs first in the same transaction (CursorFenced when it says no). A cursor
        older than the stored one (an earlier event time) is never written: cursors only move
        forward.
        """
        items = list(cursors)
        if not items:
            return 0
        now = time.time()
        written = 0
        with self.sessions.begin() as session:
            if guard is not None and not guard(session):
                raise CursorFenced("this ingest no longer holds the stream")
            for cursor in items:
                row = stored_cursors.locked(session, cursor.channel)
                if row is None:
                    session.add(
                        StreamCursor(
                            channel=cursor.channel,
                            replay_id=cursor.replay_id,
                            event_time_ms=cursor.event_time_ms,
                            updated_at=now,
                        )
                    )
                elif row.replay_id != LISTENING and row.event_time_ms > cursor.event_time_ms:
                    continue  # never backwards past an event already safely stored
                else:
                    row.replay_id = cursor.replay_id
                    row.event_time_ms = cursor.event_time_ms
                    row.updated_at = now
                written += 1
        return written
