"""One active ingest per store: the active one holds a lease row and renews it; the others wait
as standbys and take over once it stops renewing (it died, or lost the store).

Takeover happens within ``ttl_s`` plus one standby poll of the holder's last renewal. Every
cursor save checks the lease in its own transaction (``holds``), so a holder that was paused
(a long GC, a frozen VM) and has not noticed the takeover cannot move a cursor: the new holder
resumes from what the old one last saved safely, and cursors never go backwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from adapters.store import ingest_lease as leases
from adapters.store.db import Session, Sessions

log = logging.getLogger("billsync.ingest")

STREAM = "salesforce-stream"
WATCH_TICK_S = 0.05


class StreamLease:
    """This process's claim on the stream (see the module docstring)."""

    def __init__(
        self,
        sessions: Sessions,
        holder: str,
        *,
        ttl_s: float,
        stream: str = STREAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.holder = holder
        self.ttl_s = ttl_s
        self.stream = stream
        self.clock = clock
        self.epoch: int | None = None

    @property
    def poll_s(self) -> float:
        """How often a standby looks at the lease."""
        return max(0.1, self.ttl_s / 5)

    @property
    def renew_s(self) -> float:
        """How often the holder renews (three chances before the lease runs out)."""
        return max(0.1, self.ttl_s / 3)

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this process holds the lease (True) or ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            try:
                with self.sessions.begin() as session:
                    epoch = leases.try_take(
                        session, self.stream, self.holder, now=self.clock(), ttl_s=self.ttl_s
                    )
            except Exception as exc:  # the store is away: keep waiting, as a standby does
                log.warning("ingest lease: store unavailable (%s); retrying", type(exc).__name__)
                epoch = None
            if epoch is not None:
                self.epoch = epoch
                log.info("ingest active (lease %s, epoch %d)", self.stream, epoch)
                return True
            if not announced:
                log.info("standby: another ingest holds the stream; taking over if it stops")
                announced = True
            stop.wait(self.poll_s)
        return False

    def renew(self) -> bool:
        """Extend the hold; False when it is no longer ours or the store cannot say so."""
        if self.epoch is None:
            return False
        try:
            with self.sessions.begin() as session:
                return leases.renew(
                    session,
                    self.stream,
                    self.holder,
                    self.epoch,
                    now=self.clock(),
                    ttl_s=self.ttl_s,
                )
        except Exception as exc:
            log.warning("ingest lease: could not renew (%s)", type(exc).__name__)
            return False

    def holds(self, session: Session) -> bool:
        """Inside a write: True while the lease is still ours."""
        if self.epoch is None:
            return False
        return leases.holds(session, self.stream, self.holder, self.epoch, now=self.clock())

    def release(self) -> None:
        """Give the lease up (a clean stop): a standby takes over at its next poll."""
        if self.epoch is None:
            return
        try:
            with self.sessions.begin() as session:
                leases.release(session, self.stream, self.holder, self.epoch)
        except Exception as exc:
            log.warning("ingest lease: could not release (%s)", type(exc).__name__)
        self.epoch = None

    def keep(self, stop: threading.Event, halt: threading.Event) -> None:
        """Renew until ``stop`` or ``halt``; on a failed renewal, set ``halt`` (stop publishing).

        ``stop`` is passed on to ``halt`` at once, so that a stopping ingest ends promptly.
        """
        due = time.monotonic() + self.renew_s
        while not halt.wait(WATCH_TICK_S):
            if stop.is_set():
                halt.set()
                return
            if time.monotonic() < due:
                continue
            if not self.renew():
                log.error("ingest lease lost; this ingest stops publishing and becomes a standby")
                halt.set()
                return
            due = time.monotonic() + self.renew_s
