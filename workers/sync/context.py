"""What every sync step needs, wired once per worker process by the composition root."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from adapters.store.db import Sessions
from statemachine.fieldmap import FieldMap
from statemachine.lifecycle import RetryPolicy
from workers.sync.retries import CircuitBreaker

if TYPE_CHECKING:
    from adapters.logisense import CatalogPackage, LogiSenseClient, ReferenceData
    from adapters.salesforce.rest import SalesforceClient

log = logging.getLogger("billsync.worker")


@dataclass
class ReferenceCache:
    """LogiSense reference data and catalog, re-read at most every ``ttl_s`` seconds.

    Once read, a stale copy is re-read by one thread while the others go on with the copy they
    have, so the sync never stalls on a re-read every ``ttl_s``.
    """

    logisense: LogiSenseClient
    ttl_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _held: dict[str, tuple[Any, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reference(self) -> ReferenceData:
        """Reference data, fresh within the TTL."""
        return cast("ReferenceData", self._fresh("reference", self.logisense.reference_data))

    def catalog(self) -> list[CatalogPackage]:
        """The catalog, fresh within the TTL."""
        return cast("list[CatalogPackage]", self._fresh("catalog", self.logisense.catalog))

    def warm(self) -> None:
        """Read the reference data now (a starting worker logs in and reads it before its first
        entity needs it); an outside system that is down is met again on first use."""
        try:
            self.reference()
        except Exception as exc:
            log.info("reference data not read at start (%s); it is read on first use", exc)

    def invalidate(self) -> None:
        """Forget both, so the next use reads them again (a value was unknown)."""
        with self._lock:
            self._held.clear()

    def _fresh(self, name: str, read: Callable[[], Any]) -> Any:
        held = self._held.get(name)
        if held is not None and self.clock() - held[1] <= self.ttl_s:
            return held[0]
        if held is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return held[0]  # another thread is re-reading it
        try:
            again = self._held.get(name)
            if again is not None and again is not held:
                return again[0]  # re-read by another thread meanwhile
            value = read()
            self._held[name] = (value, self.clock())
            return value
        finally:
            self._lock.release()


class DatabaseClock:
    """Seconds since the epoch on the database's clock: the local clock plus an offset measured
    against the database (``read_db_time``) at start and every ``resync_s`` seconds.

    Every time a worker writes for another worker to compare (due times, history) is on this
    clock, and leases are compared in SQL against the database's own clock, so a worker whose
    wall clock is wrong neither takes live leases nor runs retries early or late.
    """

    def __init__(
        self,
        read_db_time: Callable[[], float],
        *,
        local: Callable[[], float] = time.time,
        resync_s: float = 30.0,
    ) -> None:
        self._read = read_db_time
        self._local = local
        self._resync_s = resync_s
        self._offset = 0.0
        self._synced_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> float:
        synced = self._synced_at
        if synced is None or time.monotonic() - synced > self._resync_s:
            self.sync()
        return self._local() + self._offset

    @property
    def offset(self) -> float:
        """Database time minus local time, as last measured."""
        return self._offset

    def sync(self) -> None:
        """Measure the offset again (keeps the last one if the database cannot be reached)."""
        if not self._lock.acquire(blocking=self._synced_at is None):
            return
        try:
            before = self._local()
            remote = self._read()
            after = self._local()
            self._offset = remote - (before + after) / 2
        except Exception:  # an unreachable store: keep the last offset, try again later
            pass
        finally:
            self._synced_at = time.monotonic()
            self._lock.release()


@dataclass
class SyncContext:
    """The store, the outside systems and the policies a worker runs with."""

    sessions: Sessions
    logisense: LogiSenseClient
    salesforce: SalesforceClient | None
    references: ReferenceCache
    field_map: FieldMap
    retry: RetryPolicy
    worker_id: str
    lease_s: float = 30.0
    pricebook_name: str = "LogiSense"
    coalesce_s: float = 1.0
    #: Called with each record that has just reached ``pushed`` (metrics observe latency here).
    push_observers: list[Callable[[Any], None]] = field(default_factory=list)
    #: The database's clock (``DatabaseClock``) in a worker; any clock in unit tests.
    clock: Callable[[], float] = time.time
    #: One circuit breaker per outside system, by name (``logisense``, ``salesforce``).
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
