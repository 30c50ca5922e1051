"""The sync engine: takes a due entity's lease, advances it, and turns failures into retries or
``failed`` states, by the one retry policy.

A pool of threads (``--concurrency``) runs entities side by side; the consumer hands it the
entities each batch made due, and a sweeper finds the rest in the store (retries that came due,
waiters that were woken, leases of workers that died). Both paths go through the same lease, so an
entity is never worked on twice at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from adapters.store import records as store
from billsync.errors import PermanentError, TransientError
from statemachine.machine import PENDING
from workers.accounts import AccountSync
from workers.contacts import ContactSync
from workers.context import SyncContext
from workers.opportunities import OpportunitySync
from workers.outage_notice import OutageNotice
from workers.steps import LeaseLost, ObjectSync

log = logging.getLogger("billsync.engine")

#: How often a worker looks for waiting entities that missed their wake-up.
WAIT_REPAIR_INTERVAL_S = 3.0

#: An entity whose processing was cut short this many times (a worker died each time) is failed.
CRASH_LIMIT = 5


class SyncEngine:
    """Advances entities; ``process`` is safe to call from many threads."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.syncs: dict[str, ObjectSync] = {
            "Account": AccountSync(ctx),
            "Contact": ContactSync(ctx),
            "Opportunity": OpportunitySync(ctx),
        }
        self.active: set[int] = set()
        self._active_lock = threading.Lock()

    def process(self, record_id: int) -> bool:
        """Advance one entity if it is due and free; False if another worker has it."""
        object_name = self._claim(record_id)
        if object_name is None:
            return False
        with self._active_lock:
            self.active.add(record_id)
        released = False
        try:
            released = self.syncs[object_name].run(record_id)
        except LeaseLost:
            released = True
            log.warning("lease on record %s lost to another worker", record_id)
        except TransientError as exc:
            self._retry_later(record_id, exc)
            released = True
        except PermanentError as exc:
            self._fail(record_id, str(exc))
            released = True
        except Exception as exc:
            log.exception("unexpected error on record %s", record_id)
            self._retry_later(record_id, TransientError(f"internal error: {exc!r}"))
        finally:
            try:
                if not released:
                    self._release_if_held(record_id)
            finally:
                # Even when the store is away (the release raised), stop renewing this lease,
                # or the entity stays leased to a live worker that no longer works on it.
                with self._active_lock:
                    self.active.discard(record_id)
        return True

    def renew_leases(self) -> None:
        """Extend the leases of the entities in hand, so a slow sync never loses its lease to
        another worker while it is still running (a dead worker stops renewing)."""
        with self._active_lock:
            held = sorted(self.active)
        if held:
            with self.ctx.sessions.begin() as session:
                store.renew(
                    session,
                    held,
                    owner=self.ctx.worker_id,
                    until=self.ctx.clock() + self.ctx.lease_s,
                )

    def _claim(self, record_id: int) -> str | None:
        now = self.ctx.clock()
        with self.ctx.sessions.begin() as session:
            claimed = store.claim(
                session, record_id, owner=self.ctx.worker_id, now=now, lease_s=self.ctx.lease_s
            )
            if claimed is None:
                return None
            object_name, claims = claimed
            if claims > CRASH_LIMIT:
                record = store.load_owned(session, record_id, self.ctx.worker_id)
                if record is not None:
                    self.syncs[object_name].reject(
                        session,
                        record,
                        [
                            f"processing was interrupted {claims - 1} times (a worker stopped "
                            "while handling this entity); retry it once the cause is fixed"
                        ],
                    )
                return None
            return object_name

    def _retry_later(self, record_id: int, exc: TransientError) -> None:
        with self.ctx.sessions.begin() as session:
            record = store.load_owned(session, record_id, self.ctx.worker_id)
            if record is None:
                return
            now = self.ctx.clock()
            record.attempts = (record.attempts or 0) + 1
            record.last_error = str(exc)
            policy = self.ctx.retry
            if policy.exhausted(record.attempts):
                trigger = "reject" if record.state == PENDING else "fail"
                reason = f"gave up after {record.attempts} attempts; last error: {exc}"
                store.fire(
                    session, record, trigger, reason=reason, worker=self.ctx.worker_id, at=now
                )
                record.next_attempt_at = None
                store.wake_waiters(session, record.sfid, now=now)
            else:
                delay = policy.delay(record.attempts, retry_after=exc.retry_after)
                record.next_attempt_at = now + delay
                store.note(
                    session,
                    record,
                    "retry-scheduled",
                    f"attempt {record.attempts} failed: {exc}; next in {delay:.1f}s",
                    worker=self.ctx.worker_id,
                    at=now,
                )
            store.release(record)

    def _fail(self, record_id: int, reason: str) -> None:
        with self.ctx.sessions.begin() as session:
            record = store.load_owned(session, record_id, self.ctx.worker_id)
            if record is None:
                return
            record.attempts = (record.attempts or 0) + 1
            self.syncs[record.object].reject(session, record, [reason])

    def _release_if_held(self, record_id: int) -> None:
        with self.ctx.sessions.begin() as session:
            store.release_lease(session, record_id, self.ctx.worker_id)


class WorkPool:
    """``concurrency`` threads advancing the entities they are handed, plus a sweeper."""

    def __init__(self, engine: SyncEngine, *, concurrency: int, sweep_interval_s: float) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.sweep_interval_s = sweep_interval_s
        self.store_notice = OutageNotice(log, "the store (sync pool)")
        self._queue: queue.Queue[int] = queue.Queue()
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.processed = 0

    def start(self) -> None:
        """Start the threads."""
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"sync-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def submit(self, record_ids: Iterable[int]) -> None:
        """Hand entities to the pool (duplicates of queued ones are dropped)."""
        with self._lock:
            for record_id in record_ids:
                if record_id not in self._queued:
                    self._queued.add(record_id)
                    self._queue.put(record_id)

    def backlog(self) -> int:
        """Entities handed over and not started yet."""
        return self._queue.qsize()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is running, then stop."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                record_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:
                self._queued.discard(record_id)
            try:
                if self.engine.process(record_id):
                    self.processed += 1
            except Exception as exc:
                self.store_notice.failed(exc)

    def _sweep(self) -> None:
        last_repair = 0.0
        while not self._stop.wait(self.sweep_interval_s):
            if time.monotonic() - last_repair > WAIT_REPAIR_INTERVAL_S:
                last_repair = time.monotonic()
                self._repair_waits()
            try:
                self.engine.renew_leases()
            except Exception as exc:
                self.store_notice.failed(exc)
            if self.backlog() > self.concurrency * 4:
                continue
            try:
                with self.engine.ctx.sessions() as session:
                    due = store.due_ids(
                        session, now=self.engine.ctx.clock(), limit=self.concurrency * 8
                    )
            except Exception as exc:
                self.store_notice.failed(exc)
                continue
            self.store_notice.succeeded()
            self.submit(due)

    def _repair_waits(self) -> None:
        try:
            with self.engine.ctx.sessions.begin() as session:
                woken = store.wake_stale_waiters(session, now=self.engine.ctx.clock())
        except Exception as exc:
            self.store_notice.failed(exc)
            return
        if woken:
            log.info("woke %d waiting entities that had missed their wake-up", len(woken))
            self.submit(woken)
