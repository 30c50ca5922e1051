"""Who wants to hear of every call an adapter makes to an outside system: the metrics count them
by system, operation and outcome and time them. The adapters only announce; they know nothing of
Prometheus."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

#: ``observer(system, operation, outcome, seconds)``
CallObserver = Callable[[str, str, str, float], None]

log = logging.getLogger("billsync.calls")


def outcome_of(status: int) -> str:
    """The outcome label of an HTTP answer: ok, client_error, throttled or server_error."""
    if status == 429:
        return "throttled"
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


class CallObservers:
    """The observers of one adapter; an observer that raises is logged, never the caller's
    problem."""

    def __init__(self) -> None:
        self._observers: list[CallObserver] = []
        self._lock = threading.Lock()

    def add(self, observer: CallObserver) -> None:
        """Hear of every call from now on."""
        with self._lock:
            self._observers.append(observer)

    def notify(self, system: str, operation: str, outcome: str, seconds: float) -> None:
        """Tell every observer of one call."""
        for observer in list(self._observers):
            try:
                observer(system, operation, outcome, seconds)
            except Exception:
                log.exception("a call observer failed")
