"""The ingest's counters and lag figures: plain attributes, read by logs, tests and Prometheus.

Counted under the ingest's lock (by its stream thread, or its watcher when it settles an idle
stream), so no locks here; readers on other threads see slightly stale integers, which is what a
metric is. ``lag_ms`` holds one sample per confirmed message.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

LAG_WINDOW = 10_000


@dataclass
class IngestMetrics:
    """Events received, messages published and confirmed, skips, re-reads, commit→confirm lag."""

    events_received: int = 0
    messages_published: int = 0
    messages_confirmed: int = 0
    skipped_own_writes: int = 0
    ignored: int = 0
    gap_events: int = 0
    overflow_events: int = 0
    reconciliations: int = 0
    snapshots_published: int = 0
    push_requests: int = 0
    cursor_saves: int = 0
    publisher_failures: int = 0
    lag_ms: deque[int] = field(default_factory=lambda: deque(maxlen=LAG_WINDOW))
    started_at: float = field(default_factory=time.monotonic)

    def confirmed(self, commit_timestamp_ms: int, now_ms: int) -> None:
        """Count one confirmed message and the lag from its Salesforce commit."""
        self.messages_confirmed += 1
        if commit_timestamp_ms > 0:
            self.lag_ms.append(max(0, now_ms - commit_timestamp_ms))

    def lag_percentile(self, fraction: float) -> int | None:
        """A percentile of the recent commit→confirm lags (ms), None before the first."""
        if not self.lag_ms:
            return None
        ordered = sorted(self.lag_ms)
        index = min(len(ordered) - 1, int(fraction * len(ordered)))
        return ordered[index]

    def summary(self) -> str:
        """One log line with every counter."""
        p50, p99 = self.lag_percentile(0.5), self.lag_percentile(0.99)
        return (
            f"ingest: received={self.events_received} published={self.messages_published} "
            f"confirmed={self.messages_confirmed} own-writes={self.skipped_own_writes} "
            f"ignored={self.ignored} gaps={self.gap_events} overflows={self.overflow_events} "
            f"reconciliations={self.reconciliations} push-requests={self.push_requests} "
            f"lag-p50={_ms(p50)} lag-p99={_ms(p99)}"
        )

    def as_dict(self) -> dict[str, int | None]:
        """The counters by name (for ``--json`` output and tests)."""
        return {
            "events_received": self.events_received,
            "messages_published": self.messages_published,
            "messages_confirmed": self.messages_confirmed,
            "skipped_own_writes": self.skipped_own_writes,
            "ignored": self.ignored,
            "gap_events": self.gap_events,
            "overflow_events": self.overflow_events,
            "reconciliations": self.reconciliations,
            "snapshots_published": self.snapshots_published,
            "push_requests": self.push_requests,
            "cursor_saves": self.cursor_saves,
            "publisher_failures": self.publisher_failures,
            "lag_p50_ms": self.lag_percentile(0.5),
            "lag_p99_ms": self.lag_percentile(0.99),
        }


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value}ms"
