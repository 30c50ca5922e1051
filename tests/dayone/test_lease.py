"""The ingest lease and the cursor guard on the store itself (both backends): one holder at a
time, takeover after expiry, a fenced old holder saves nothing, cursors never move back."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from adapters.store.db import make_engine, migrate, session_factory
from workers.ingest.cursors import Cursor, CursorFenced, CursorStore
from workers.ingest.lease import StreamLease
from workers.ingest.stream import backfill_hint

CHANNEL = "/data/AccountChangeEvent"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_takeover_and_fencing(backend: Any) -> None:
    migrate(backend.database_url)
    sessions = session_factory(make_engine(backend.database_url, pool_size=2))
    assert backfill_hint(sessions) is not None and "billsync backfill" in str(
        backfill_hint(sessions)
    )
    clock = Clock()
    first = StreamLease(sessions, "first", ttl_s=5, clock=clock)
    second = StreamLease(sessions, "second", ttl_s=5, clock=clock)
    given_up = threading.Event()
    given_up.set()
    assert first.acquire(threading.Event())
    assert not second.acquire(given_up)  # held: a standby keeps waiting (here: gives up)
    cursors = CursorStore(sessions)
    cursors.save([Cursor(CHANNEL, 10, 5_000)], guard=first.holds)

    clock.now += 4
    assert first.renew()
    clock.now += 6  # the first holder stopped renewing: its lease ran out
    assert second.acquire(threading.Event())
    assert not first.renew()
    with pytest.raises(CursorFenced):
        cursors.save([Cursor(CHANNEL, 11, 6_000)], guard=first.holds)
    assert cursors.load_all()[CHANNEL].replay_id == 10

    cursors.save([Cursor(CHANNEL, 12, 7_000)], guard=second.holds)
    cursors.save([Cursor(CHANNEL, 9, 4_000)], guard=second.holds)  # older: ignored
    assert cursors.load_all()[CHANNEL] == Cursor(CHANNEL, 12, 7_000)
    assert backfill_hint(sessions) is None

    second.release()
    assert first.acquire(threading.Event())  # a clean stop hands over at once
