"""The worker's cache of LogiSense reference data: read once at start, re-read by one thread
when stale while the others go on with the copy they have."""

from __future__ import annotations

import threading
from typing import Any

from workers.sync.context import ReferenceCache


class SlowReads:
    """Counts reads; a read after the first blocks until ``release`` is set."""

    def __init__(self) -> None:
        self.reads = 0
        self.release = threading.Event()
        self.started = threading.Event()

    def reference_data(self) -> Any:
        self.reads += 1
        if self.reads > 1:
            self.started.set()
            assert self.release.wait(5)
        return f"reference #{self.reads}"

    def catalog(self) -> Any:
        return []


def test_a_stale_copy_is_served_while_one_thread_reads_it_again() -> None:
    now = [0.0]
    source = SlowReads()
    cache = ReferenceCache(source, ttl_s=300, clock=lambda: now[0])  # type: ignore[arg-type]
    cache.warm()
    assert source.reads == 1
    now[0] = 301.0
    refresher = threading.Thread(target=cache.reference)
    refresher.start()
    assert source.started.wait(5)
    assert cache.reference() == "reference #1"  # not blocked behind the re-read
    source.release.set()
    refresher.join(5)
    assert cache.reference() == "reference #2"
    assert source.reads == 2


def test_warm_up_when_logisense_is_down_leaves_the_read_for_first_use() -> None:
    class Down:
        calls = 0

        def reference_data(self) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("refused")
            return "reference"

    cache = ReferenceCache(Down())  # type: ignore[arg-type]
    cache.warm()
    assert cache.reference() == "reference"
