"""Salesforce's daily API limit, seen before it bites (SPEC §6, docs/adapters-salesforce.md).

Every REST answer carries ``Sforce-Limit-Info: api-usage=N/M`` (requests used in the rolling day,
and the org's limit). ``ApiUsage`` keeps the latest figures for metrics, ``billsync doctor`` and
``billsync queues``; ``ReadPacer`` makes non-urgent reads (backfill, drift, re-reads) wait a
little before each call once usage passes a configured share of the limit, so that the calls the
live sync needs still fit in the day. At the limit Salesforce answers 403
``REQUEST_LIMIT_EXCEEDED``, which billsync treats as transient: entities wait, never fail.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

LIMIT_HEADER = "Sforce-Limit-Info"
USAGE_RE = re.compile(r"(?:^|[,;\s])api-usage=(\d+)/(\d+)")
DEFAULT_SLOW_SHARE = 0.8
DEFAULT_MAX_DELAY_S = 5.0


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``(used, limit)`` from a ``Sforce-Limit-Info`` value (other parts, such as
    ``per-app-api-usage``, are ignored); None when it holds no ``api-usage``."""
    match = USAGE_RE.search(value or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class ApiUsage:
    """The org's daily API usage as the last answer reported it (thread-safe)."""

    def __init__(self) -> None:
        self.used: int | None = None
        self.limit: int | None = None
        self.limit_exceeded = 0
        self._lock = threading.Lock()

    def record(self, header: str | None) -> None:
        """Take the figures of one answer's ``Sforce-Limit-Info`` header."""
        figures = parse_limit_info(header)
        if figures is not None:
            with self._lock:
                self.used, self.limit = figures

    def exceeded(self) -> None:
        """Salesforce answered REQUEST_LIMIT_EXCEEDED: the day's calls are spent."""
        with self._lock:
            self.limit_exceeded += 1
            if self.limit:
                self.used = max(self.used or 0, self.limit)

    @property
    def share(self) -> float | None:
        """Used / limit, or None before the first answer."""
        used, limit = self.used, self.limit
        if used is None or not limit:
            return None
        return used / limit

    def __repr__(self) -> str:
        return f"ApiUsage(used={self.used}, limit={self.limit})"


class ReadPacer:
    """Slows non-urgent reads as usage nears ``slow_share`` of the daily limit.

    Below ``slow_share`` there is no delay; from there the delay before each read grows linearly
    to ``max_delay_s`` at the limit (and stays there past it). Call ``before_read()`` before each
    non-urgent request (one SOQL page, one batch of ids).
    """

    def __init__(
        self,
        usage: ApiUsage,
        *,
        slow_share: float = DEFAULT_SLOW_SHARE,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.usage = usage
        self.slow_share = slow_share
        self.max_delay_s = max_delay_s
        self.slept_s = 0.0
        self.paced_reads = 0
        self._sleep = sleep
        self._lock = threading.Lock()

    def delay_s(self) -> float:
        """The wait the next non-urgent read gets now."""
        share = self.usage.share
        if share is None or share < self.slow_share:
            return 0.0
        if self.slow_share >= 1.0 or share >= 1.0:
            return self.max_delay_s
        return self.max_delay_s * (share - self.slow_share) / (1.0 - self.slow_share)

    def before_read(self) -> float:
        """Wait as long as usage calls for; the seconds waited."""
        delay = self.delay_s()
        if delay > 0:
            self._sleep(delay)
            with self._lock:
                self.slept_s += delay
                self.paced_reads += 1
        return delay
