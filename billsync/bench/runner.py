"""``run_bench``: every SPEC §9 row of ``billsync bench`` in one run, on one rig.

A scenario that breaks is reported as an error row and the run goes on, so one problem never
hides the other figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from billsync.bench import backfill_row, scenarios
from billsync.bench.harness import open_rig
from billsync.bench.report import Figure
from billsync.bench.scenarios import BenchSizes, BenchState

log = logging.getLogger("billsync.bench")
Progress = Callable[[str], None]

ROWS = (
    ("e2e_throughput", "end-to-end throughput, zero latency", "≥ 500 entities/s"),
    ("burst_writes", "LogiSense writes for 100 updates to one account in 1 s", "≤ 3"),
    (
        "sf_commit_to_write_p99",
        "Salesforce commit -> LogiSense write via ingest: p99",
        "p99 ≤ 500 ms",
    ),
    ("salesforce_calls_per_change", "Salesforce REST calls per CDC change", "≤ 0.05"),
    ("commit_to_write_p99", "enqueue -> LogiSense write (producer API): p99", "p99 ≤ 500 ms"),
    (
        "worker_salesforce_calls_per_change",
        "Salesforce REST calls per change, workers",
        "reference",
    ),
    ("latency_100ms_calls", "100 ms LogiSense latency, 1 worker x 32: calls/s", "≥ 256 calls/s"),
    ("rss_growth", "worker RSS growth after warm-up", "< 50 MB"),
    (backfill_row.KEY, backfill_row.LABEL, backfill_row.TARGET),
)


def run_bench(
    broker_url: str, database_url: str, sizes: BenchSizes, progress: Progress
) -> list[Figure]:
    """Measure every row; returns the figures in SPEC §9 order."""
    figures: list[Figure] = []
    started = time.monotonic()
    try:
        figures.extend(scenarios.broker_ceiling(broker_url, sizes, progress))
    except Exception as exc:
        figures.append(_error("broker_ceiling", "broker ceiling", "reference", exc))
    state = BenchState()
    with open_rig(broker_url, database_url, salesforce=True) as rig:
        progress(
            f"rig up: store {rig.database_url.rsplit('/', 1)[-1]}, queues {rig.topology.prefix}"
        )
        steps: list[tuple[tuple[str, ...], Callable[[], Figure | tuple[Figure, ...]]]] = [
            (
                ("e2e_throughput",),
                lambda: scenarios.end_to_end_throughput(rig, state, sizes, progress),
            ),
            (("burst_writes",), lambda: scenarios.burst_coalescing(rig, state, sizes, progress)),
            (
                ("sf_commit_to_write_p99", "salesforce_calls_per_change"),
                lambda: scenarios.salesforce_commit_to_write(rig, state, sizes, progress),
            ),
            (
                ("commit_to_write_p99", "worker_salesforce_calls_per_change"),
                lambda: scenarios.commit_to_write_latency(rig, state, sizes, progress),
            ),
            (
                ("latency_100ms_calls",),
                lambda: scenarios.slow_logisense(rig, state, sizes, progress),
            ),
            (("rss_growth",), lambda: scenarios.memory_growth(rig, state, sizes, progress)),
            (
                (backfill_row.KEY,),
                lambda: backfill_row.backfill_throughput(
                    rig,
                    sizes.backfill_accounts,
                    sizes.throughput_workers,
                    sizes.throughput_concurrency,
                    progress,
                ),
            ),
        ]
        for keys, step in steps:
            try:
                result = step()
                figures.extend(result if isinstance(result, tuple) else (result,))
            except Exception as exc:
                log.exception("bench scenario %s failed", keys[0])
                rig.stop_workers()
                for key in keys:
                    label, target = _row(key)
                    figures.append(_error(key, label, target, exc))
    progress(f"done in {time.monotonic() - started:.0f} s")
    return figures


def _row(key: str) -> tuple[str, str]:
    for name, label, target in ROWS:
        if name == key:
            return label, target
    return key, ""


def _error(key: str, label: str, target: str, exc: Exception) -> Figure:
    return Figure(key, label, None, "", target, False, error=f"{type(exc).__name__}: {exc}")
