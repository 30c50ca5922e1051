"""The sync threads of a worker and their sweeper: they take entities in batches and hand them to
the engine; the sweeper claims due entities, renews leases, and repairs missed wake-ups. While an
outside system's circuit is open they claim nothing but the one probe entity per interval."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from adapters.store import leases
from adapters.store import records as store
from workers.sync.engine import SyncEngine
from workers.sync.outage_notice import OutageNotice

log = logging.getLogger("billsync.engine")

#: How often a worker looks for waiting entities that missed their wake-up.
WAIT_REPAIR_INTERVAL_S = 3.0


class WorkPool:
    """``concurrency`` threads advancing the entities they are handed, plus a sweeper."""

    def __init__(
        self,
        engine: SyncEngine,
        *,
        concurrency: int,
        sweep_interval_s: float,
        batch_size: int = 1,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.batch_size = max(1, batch_size)
        self.sweep_interval_s = sweep_interval_s
        self.store_notice = OutageNotice(log, "the store (sync pool)")
        self._queue: queue.Queue[int | leases.Claim] = queue.Queue()
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
        """Finish what is running, then stop; leases claimed and not started are given back."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self.engine.close()
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(work, leases.Claim):
                try:
                    self.engine.release(work)
                except Exception:
                    log.warning("could not give back the lease on record %s", work.record_id)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ids = [w for w in batch if isinstance(w, int)]
            if ids:
                with self._lock:
                    self._queued.difference_update(ids)
                if not self.engine.may_claim():
                    # An outside system is down: the sweeper finds these again later.
                    batch = [w for w in batch if not isinstance(w, int)]
            if not batch:
                continue
            try:
                if len(batch) == 1:
                    self.processed += int(self.engine.process(batch[0]))
                else:
                    self.processed += self.engine.process_batch(batch)
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
            if self.backlog() > self.concurrency:
                continue
            if self.engine.systems_up():
                limit = self.concurrency * self.batch_size
            elif self.engine.may_claim():
                limit = 1  # the probe of a system that was down
            else:
                continue
            try:
                claims = self.engine.claim_due(limit)
            except Exception as exc:
                self.store_notice.failed(exc)
                continue
            self.store_notice.succeeded()
            for claim in claims:
                self._queue.put(claim)

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
