"""Circuit breakers: one per outside system (LogiSense, Salesforce), per worker process.

The retry policy of one entity (backoff within a time budget) is in ``statemachine.lifecycle``.
This module is about the system as a whole: when calls to it keep failing, or its login is
refused, the breaker *opens*: the worker stops claiming entities and every call fails fast
without reaching the system. After a probe interval one entity is let through as a probe; its
first call decides: success closes the breaker (and every scheduled retry is made due at once),
failure opens it for a longer interval (capped). A refused login opens it too, with an alert
(a log line and a metric) instead of failing every entity, and with one login attempt per probe
interval at most: a wrong password never turns into a login storm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billsync.errors import AuthenticationFailed, PermanentError, TransientError
from workers.sync.outcomes import log_event

CLOSED = "closed"
OPEN = "open"


class CircuitOpen(TransientError):
    """The system is known to be down (or refuses our login): the call was not made."""


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` consecutive transient failures, or at once on a refused login;
    probes after ``probe_s`` (doubling up to ``probe_cap_s`` while the probes fail)."""

    system: str
    threshold: int = 5
    probe_s: float = 2.0
    probe_cap_s: float = 15.0
    auth_probe_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    #: Called (outside the lock) when the system is back after being down.
    on_close: list[Callable[[str], None]] = field(default_factory=list)
    state: str = CLOSED
    reason: str = ""
    failures: int = 0
    opened: int = 0
    auth_failures: int = 0
    _interval: float = 0.0
    _next_probe: float = 0.0
    _next_claim: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def may_claim(self) -> bool:
        """Whether the worker may take an entity now: always while closed; while open, one
        entity per probe interval (its first call will be the probe)."""
        if self.state == CLOSED:
            return True
        with self._lock:
            now = self.clock()
            if now < self._next_claim:
                return False
            self._next_claim = now + self._interval
            return True

    def before_call(self) -> None:
        """Raise ``CircuitOpen`` unless a call may be made now: always while closed; while
        open, one call (the probe) per probe interval."""
        if self.state == CLOSED:
            return
        with self._lock:
            now = self.clock()
            if now < self._next_probe:
                raise CircuitOpen(f"{self.system} is unavailable ({self.reason}); not called")
            self._next_probe = now + self._interval

    def succeeded(self) -> None:
        """A call got an answer (even a refusal of the request: the system is up)."""
        if self.state == CLOSED and not self.failures:
            return
        with self._lock:
            was_open = self.state == OPEN
            self.state, self.failures, self.reason = CLOSED, 0, ""
        if was_open:
            log_event("circuit closed", system=self.system, reason="a probe call succeeded")
            for notify in self.on_close:
                notify(self.system)

    def failed(self, error: BaseException) -> None:
        """A call failed transiently, or its login was refused."""
        auth = isinstance(error, AuthenticationFailed)
        with self._lock:
            self.failures += 1
            if auth:
                self.auth_failures += 1
            first = self.state == CLOSED
            if first and not auth and self.failures < self.threshold:
                return
            if auth:
                self._interval = self.auth_probe_s
            elif first:
                self._interval = self.probe_s
            else:
                self._interval = min(self.probe_cap_s, max(self.probe_s, self._interval * 2))
            self.state = OPEN
            self.opened += 1 if first else 0
            self.reason = ("login refused: " if auth else "") + str(error)
            self._next_probe = self._next_claim = self.clock() + self._interval
        if first or auth:
            log_event(
                "authentication failed" if auth else "circuit opened",
                system=self.system,
                reason=self.reason,
                probe_in_s=self._interval,
            )


class GuardedClient:
    """An outside system's client whose every public method goes through its breaker."""

    def __init__(self, client: Any, breaker: CircuitBreaker) -> None:
        self._client = client
        self.breaker = breaker

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if name.startswith("_") or not callable(value):
            return value
        breaker = self.breaker

        def guarded(*args: Any, **kwargs: Any) -> Any:
            breaker.before_call()
            try:
                result = value(*args, **kwargs)
            except AuthenticationFailed as exc:
                breaker.failed(exc)
                raise CircuitOpen(
                    f"{breaker.system} refused billsync's login; calls stop until it is fixed"
                ) from exc
            except TransientError as exc:
                breaker.failed(exc)
                raise
            except PermanentError:
                breaker.succeeded()
                raise
            breaker.succeeded()
            return result

        return guarded


class BreakerCollector:
    """Prometheus view of the breakers: open or not, times opened, refused logins (the alert)."""

    def __init__(self, breakers: dict[str, CircuitBreaker]) -> None:
        self.breakers = breakers

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = GaugeMetricFamily(
            "billsync_circuit_open",
            "1 while calls to an outside system are stopped (it is down or refuses the login).",
            labels=["system"],
        )
        opened = CounterMetricFamily(
            "billsync_circuit_opened", "Times a circuit opened.", labels=["system"]
        )
        auth = CounterMetricFamily(
            "billsync_circuit_auth_failures",
            "Logins an outside system refused (alert: the credentials are wrong).",
            labels=["system"],
        )
        for name, breaker in sorted(self.breakers.items()):
            state.add_metric([name], 1.0 if breaker.state == OPEN else 0.0)
            opened.add_metric([name], breaker.opened)
            auth.add_metric([name], breaker.auth_failures)
        return [state, opened, auth]
