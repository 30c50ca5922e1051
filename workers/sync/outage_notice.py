"""One calm log line when a dependency goes away and one when it is back, not one per attempt.

A worker retries the store every fraction of a second while it is down; logging each failure
with its traceback wrote 27,000 lines in a two-minute PostgreSQL outage. ``OutageNotice`` logs
the first failure (its kind, no traceback), keeps quiet while the failures go on, and logs the
recovery with how long the outage lasted.
"""

from __future__ import annotations

import logging
import threading
import time


class OutageNotice:
    """Tracks whether ``what`` is reachable; logs only its changes of state (thread-safe)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.since: float | None = None
        self.failures = 0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """True between a failure and the next success."""
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        """Note a failure; the first of an outage is logged."""
        with self._lock:
            self.failures += 1
            if self.since is not None:
                return
            self.since = time.monotonic()
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        self.logger.warning(
            "%s unavailable (%s: %s); retrying quietly until it is back",
            self.what,
            type(exc).__name__,
            detail,
        )

    def succeeded(self) -> None:
        """Note a success; the end of an outage is logged."""
        with self._lock:
            if self.since is None:
                return
            lasted, self.since = time.monotonic() - self.since, None
            failures, self.failures = self.failures, 0
        self.logger.warning(
            "%s available again after %.0f s (%d failed attempts)", self.what, lasted, failures
        )
