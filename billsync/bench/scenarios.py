"""One function per SPEC §9 row of ``billsync bench``; each returns a ``Figure``.

They run in order on one rig (see ``run_bench``): the accounts created by the throughput run are
the ones later scenarios update, so no scenario pays for another's set-up.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.broker.publisher import open_publisher
from adapters.store import figures
from billsync.bench.broker_ceiling import measure_broker_ceiling
from billsync.bench.harness import Rig, WorkerProcess
from billsync.bench.observe import (
    first_push_after,
    last_push_time,
    pushed_count_since,
    settled_count,
    wait_until,
)
from billsync.bench.report import Figure
from billsync.bench.workload import account_id, new_account, rename
from billsync.messages import encode, now_ms

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchSizes:
    """How much work each scenario does: ``QUICK`` fits in a minute, ``FULL`` in five."""

    ceiling_messages: int
    ceiling_rounds: int
    throughput_accounts: int
    throughput_workers: int
    throughput_concurrency: int
    slow_accounts: int
    latency_seconds: float
    rss_accounts: int
    backfill_accounts: int = 100_000


QUICK = BenchSizes(
    ceiling_messages=2000,
    ceiling_rounds=1,
    throughput_accounts=400,
    throughput_workers=2,
    throughput_concurrency=8,
    slow_accounts=250,
    latency_seconds=3,
    rss_accounts=400,
    backfill_accounts=2_000,
)
FULL = BenchSizes(
    ceiling_messages=10000,
    ceiling_rounds=2,
    throughput_accounts=3000,
    throughput_workers=2,
    throughput_concurrency=8,
    slow_accounts=800,
    latency_seconds=15,
    rss_accounts=8000,
)


@dataclass
class BenchState:
    """What scenarios hand on to later ones: accounts that exist, and their revisions."""

    next_account: int = 1
    synced: list[int] = field(default_factory=list)
    revisions: dict[int, int] = field(default_factory=dict)

    def take(self, count: int) -> list[int]:
        """Numbers for ``count`` new accounts."""
        numbers = list(range(self.next_account, self.next_account + count))
        self.next_account += count
        return numbers


def broker_ceiling(broker_url: str, sizes: BenchSizes, progress: Progress) -> list[Figure]:
    """The broker's own rates, and confirmed ingest publishing against unconfirmed."""
    figures = measure_broker_ceiling(
        broker_url,
        messages=sizes.ceiling_messages,
        rounds=sizes.ceiling_rounds,
        progress=progress,
    )
    share = figures["windowed_share_of_unconfirmed"]
    rows = [
        Figure(
            "broker_unconfirmed_publish",
            "broker: publish, no confirms (1 KiB, quorum)",
            figures["unconfirmed_publish"],
            "msg/s",
            "reference",
            None,
            {"pyamqp": figures["unconfirmed_publish_pyamqp"]},
        ),
        Figure(
            "broker_blocking_confirm_publish",
            "broker: publish, one blocking confirm each",
            figures["blocking_confirm_publish"],
            "msg/s",
            "reference",
            None,
        ),
        Figure(
            "broker_consume_ack",
            "broker: consume + ack (prefetch 200)",
            figures["consume_ack"],
            "msg/s",
            "reference",
            None,
        ),
        Figure(
            "confirmed_ingest_share",
            f"confirmed publishing (window {int(figures['window'])}) / unconfirmed",
            share * 100,
            "%",
            "≥ 90 %",
            share >= 0.90,
            {"windowed_confirm_publish": figures["windowed_confirm_publish"]},
        ),
    ]
    return rows


def end_to_end_throughput(
    rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress
) -> Figure:
    """New accounts enqueued through the producer API until all are pushed, zero latency."""
    rig.logisense.faults(latency_ms=0)
    workers = [
        rig.start_worker(sizes.throughput_concurrency) for _ in range(sizes.throughput_workers)
    ]
    numbers = state.take(sizes.throughput_accounts)
    progress(f"throughput: enqueueing {len(numbers):,} new accounts")
    started = time.time()
    rig.publish(new_account(n) for n in numbers)
    enqueued = time.time() - started
    wait_until(
        lambda: pushed_count_since(rig, started),
        len(numbers),
        timeout_s=max(60.0, len(numbers) / 20),
        what="throughput: pushed",
        progress=progress,
    )
    finished = last_push_time(rig, started) or time.time()
    state.synced.extend(numbers)
    rate = len(numbers) / (finished - started)
    for worker in workers:
        worker.stop()
    rig.workers.clear()
    return Figure(
        "e2e_throughput",
        f"end-to-end, zero latency, {len(workers)} workers x {sizes.throughput_concurrency}",
        rate,
        "entities/s",
        "≥ 500 entities/s",
        rate >= 500,
        {"entities": len(numbers), "enqueue_s": round(enqueued, 2), "workers": len(workers)},
    )


def slow_logisense(rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress) -> Figure:
    """One worker at concurrency 32 against 100 ms LogiSense latency: calls/s vs the ideal 320.

    The worker is warmed up first (logged in, reference data read, as the latency rows do), so
    the row measures how well it keeps its 32 calls in flight, not its start-up at 100 ms a call.
    """
    rig.logisense.faults(latency_ms=100)
    worker = rig.start_worker(32)
    numbers = state.take(sizes.slow_accounts)
    _warm_up(rig, state, numbers, progress)
    before = rig.logisense.stats()["requests_total"]
    progress(f"100 ms latency: enqueueing {len(numbers):,} new accounts")
    started = time.time()
    rig.publish(new_account(n) for n in numbers)
    wait_until(
        lambda: pushed_count_since(rig, started),
        len(numbers),
        timeout_s=max(60.0, len(numbers) / 5),
        what="100 ms latency: pushed",
        progress=progress,
    )
    finished = last_push_time(rig, started) or time.time()
    calls = rig.logisense.stats()["requests_total"] - before
    state.synced.extend(numbers)
    worker.stop()
    rig.workers.clear()
    rig.logisense.faults(latency_ms=0)
    rate = calls / (finished - started)
    share = rate / 320
    return Figure(
        "latency_100ms_calls",
        "100 ms LogiSense latency, 1 worker x 32: calls/s",
        rate,
        "calls/s",
        "≥ 256 calls/s (80 % of 320)",
        share >= 0.80,
        {"share_of_ideal": round(share, 3), "calls": calls, "accounts": len(numbers)},
    )


def _latency_figure(key: str, label: str, latencies: list[float]) -> Figure:
    """The p99 row of a latency run, with p50, p95, p99, max and mean beside it."""
    p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
    return Figure(
        key,
        label,
        p99,
        "ms",
        "p99 ≤ 500 ms",
        p99 <= 500,
        {
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "p99_ms": round(p99, 1),
            "max_ms": round(latencies[-1], 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "changes": len(latencies),
        },
    )


def _warm_up(rig: Rig, state: BenchState, busy: list[int], progress: Progress) -> None:
    """Time nothing until the new workers are connected, logged in and have read LogiSense's
    reference data: rename a few accounts outside the measured set and wait for their pushes."""
    spare = [n for n in state.synced if n not in set(busy)][:6] or state.synced[:1]
    progress("latency: warming up the workers")
    since = time.time()
    publisher = open_publisher(rig.broker_url, rig.topology)
    try:
        for number in spare:
            revision = state.revisions.get(number, 0) + 1
            state.revisions[number] = revision
            publisher.publish(encode(rename(number, revision, commit_ms=now_ms())))
        publisher.flush()
    finally:
        publisher.close()
    wanted = {account_id(n) for n in spare}
    wait_until(
        lambda: len(wanted & set(first_push_after(rig, since))),
        len(wanted),
        timeout_s=60,
        what="latency: warm-up",
        progress=progress,
    )


def commit_to_write_latency(
    rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress
) -> tuple[Figure, Figure]:
    """A steady 100 changes/s to synced accounts with 50 ms API latency: commit → push times.

    Also counts the Salesforce REST calls the system makes per change meanwhile.
    """
    rig.logisense.faults(latency_ms=50)
    if rig.salesforce is not None:
        rig.salesforce.faults(latency_ms=50)
    workers = [rig.start_worker(16) for _ in range(2)]
    count = int(100 * sizes.latency_seconds)
    targets = state.synced[-count:] if len(state.synced) >= count else state.synced
    _warm_up(rig, state, targets, progress)
    sf_before = rig.salesforce.stats()["requests_total"] if rig.salesforce else 0
    commits: dict[str, float] = {}
    progress(f"latency: {len(targets):,} changes at 100/s with 50 ms latency")
    started = time.time()
    publisher = open_publisher(rig.broker_url, rig.topology)
    try:
        for index, number in enumerate(targets):
            due = started + index / 100
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            revision = state.revisions.get(number, 0) + 1
            state.revisions[number] = revision
            committed = now_ms()
            publisher.publish(encode(rename(number, revision, commit_ms=committed)))
            commits[account_id(number)] = committed / 1000
            if index % 10 == 9:
                publisher.flush()
        publisher.flush()
    finally:
        publisher.close()
    wanted = set(commits)
    wait_until(
        lambda: len(wanted & set(first_push_after(rig, started))),
        len(wanted),
        timeout_s=60,
        what="latency: pushed",
        progress=progress,
    )
    pushes = first_push_after(rig, started)
    latencies = sorted((pushes[s] - commits[s]) * 1000 for s in wanted)
    sf_calls = (rig.salesforce.stats()["requests_total"] - sf_before) if rig.salesforce else 0
    for worker in workers:
        worker.stop()
    rig.workers.clear()
    rig.logisense.faults(latency_ms=0)
    if rig.salesforce is not None:
        rig.salesforce.faults(latency_ms=0)
    latency = _latency_figure(
        "commit_to_write_p99",
        "enqueue -> LogiSense write (producer API), 100/s, 50 ms: p99",
        latencies,
    )
    per_change = sf_calls / max(1, len(latencies))
    calls = Figure(
        "worker_salesforce_calls_per_change",
        "Salesforce REST calls per change, workers only",
        per_change,
        "calls",
        "reference",
        None,
        {"salesforce_requests": sf_calls, "changes": len(latencies)},
    )
    return latency, calls


def salesforce_commit_to_write(
    rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress
) -> tuple[Figure, Figure]:
    """Renames committed in Salesforce at 100/s, 50 ms latency on both APIs, carried by
    ``billsync ingest`` and two workers: commit → LogiSense write, and the Salesforce REST calls
    the system makes per change in steady state (CometD long polls are not REST calls)."""
    from billsync.bench.rep import SalesforceRep

    assert rig.salesforce is not None
    rep = SalesforceRep(rig.salesforce)
    count = int(100 * sizes.latency_seconds)
    ingest = rig.start_ingest()
    workers = [rig.start_worker(16) for _ in range(2)]
    progress(f"Salesforce path: {count:,} accounts created by a rep, through the ingest")
    created_at = time.time()
    ids = rep.create_accounts(count)
    short = {i[:15]: i for i in ids}
    wait_until(
        lambda: len(short.keys() & {s[:15] for s in first_push_after(rig, created_at)}),
        len(ids),
        timeout_s=max(60.0, count / 10),
        what="Salesforce path: accounts pushed",
        progress=progress,
    )
    rig.logisense.faults(latency_ms=50)
    rig.salesforce.faults(latency_ms=50)
    time.sleep(1.0)
    before = _salesforce_rest_calls(rig)
    own_calls = rep.calls
    commits: dict[str, float] = {}
    progress(f"Salesforce path: {count:,} renames at 100/s with 50 ms latency")
    started = time.time()
    for tick, offset in enumerate(range(0, count, 10)):
        pause = started + tick * 0.1 - time.time()
        if pause > 0:
            time.sleep(pause)
        chosen = ids[offset : offset + 10]
        sent = rep.rename({i: f"Renamed {i}" for i in chosen})
        commits.update(dict.fromkeys((i[:15] for i in chosen), sent))
    wait_until(
        lambda: len(commits.keys() & {s[:15] for s in first_push_after(rig, started)}),
        len(commits),
        timeout_s=90,
        what="Salesforce path: renames pushed",
        progress=progress,
    )
    pushes = {s[:15]: at for s, at in first_push_after(rig, started).items()}
    calls = _salesforce_rest_calls(rig) - before - (rep.calls - own_calls)
    for process in [ingest, *workers]:
        process.stop()
    rig.workers.clear()
    rig.logisense.faults(latency_ms=0)
    rig.salesforce.faults(latency_ms=0)
    latencies = sorted((pushes[k] - commits[k]) * 1000 for k in commits)
    latency = _latency_figure(
        "sf_commit_to_write_p99",
        "Salesforce commit -> LogiSense write via ingest, 100/s, 50 ms: p99",
        latencies,
    )
    per_change = calls / max(1, len(latencies))
    rest = Figure(
        "salesforce_calls_per_change",
        "Salesforce REST calls per CDC change (ingest + workers, steady state)",
        per_change,
        "calls",
        "≤ 0.05",
        per_change <= 0.05,
        {"rest_calls": calls, "changes": len(latencies)},
    )
    return latency, rest


def _salesforce_rest_calls(rig: Rig) -> int:
    assert rig.salesforce is not None
    routes: dict[str, int] = rig.salesforce.stats()["routes"]
    return sum(n for route, n in routes.items() if "/cometd" not in route)


def burst_coalescing(rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress) -> Figure:
    """100 updates to one synced account within one second: LogiSense writes they cause."""
    rig.logisense.faults(latency_ms=0)
    workers = [rig.start_worker(8) for _ in range(2)]
    number = state.synced[0]
    sfid = account_id(number)
    before = rig.logisense.stats()["writes_total"]
    progress("burst: 100 updates to one account within 1 s")
    started = time.time()
    publisher = open_publisher(rig.broker_url, rig.topology)
    try:
        for index in range(100):
            due = started + index / 110
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            revision = state.revisions.get(number, 0) + 1
            state.revisions[number] = revision
            publisher.publish(encode(rename(number, revision)))
            publisher.flush()
    finally:
        publisher.close()
    sent_s = time.time() - started
    final_name = f"Account {number} r{state.revisions[number]}"
    wait_until(
        lambda: int(_name_in_store(rig, sfid) == final_name) * settled_count(rig, {sfid}),
        1,
        timeout_s=30,
        what="burst: settled",
    )
    time.sleep(1.0)
    writes = rig.logisense.stats()["writes_total"] - before
    for worker in workers:
        worker.stop()
    rig.workers.clear()
    return Figure(
        "burst_writes",
        "LogiSense writes for 100 updates to one account in 1 s",
        writes,
        "writes",
        "≤ 3",
        writes <= 3,
        {"sent_in_s": round(sent_s, 2)},
    )


def memory_growth(rig: Rig, state: BenchState, sizes: BenchSizes, progress: Progress) -> Figure:
    """RSS of one worker over a run of many distinct new accounts, after a warm-up."""
    rig.logisense.faults(latency_ms=0)
    worker = rig.start_worker(8)
    numbers = state.take(sizes.rss_accounts)
    warm = max(1, len(numbers) // 5)
    samples: list[tuple[int, int]] = []
    stop = threading.Event()
    started = time.time()

    def sample() -> None:
        while not stop.wait(0.5):
            try:
                samples.append((pushed_count_since(rig, started), worker.rss_bytes()))
            except Exception:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    progress(f"memory: {len(numbers):,} distinct accounts through one worker")
    chunk = 2000
    for offset in range(0, len(numbers), chunk):
        rig.publish(new_account(n) for n in numbers[offset : offset + chunk])
    wait_until(
        lambda: pushed_count_since(rig, started),
        len(numbers),
        timeout_s=max(120.0, len(numbers) / 10),
        what="memory: pushed",
        progress=progress,
    )
    stop.set()
    sampler.join()
    final = worker.rss_bytes()
    worker.stop()
    rig.workers.clear()
    state.synced.extend(numbers)
    after_warmup = [rss for done, rss in samples if done >= warm] or [final]
    baseline = after_warmup[0]
    growth_mb = (max([*after_warmup, final]) - baseline) / 2**20
    return Figure(
        "rss_growth",
        f"worker RSS growth over {len(numbers):,} entities after warm-up",
        growth_mb,
        "MB",
        "< 50 MB (over 100,000)",
        growth_mb < 50,
        {
            "entities": len(numbers),
            "warmup_entities": warm,
            "rss_after_warmup_mb": round(baseline / 2**20, 1),
            "rss_final_mb": round(final / 2**20, 1),
            "samples": len(samples),
        },
    )


def _name_in_store(rig: Rig, sfid: str) -> str | None:
    values = rig.read(lambda session: figures.pushed_values(session, "Account", sfid))
    name = (values or {}).get("Name")
    return str(name) if name is not None else None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))
    return values[index]


__all__ = [
    "FULL",
    "QUICK",
    "BenchSizes",
    "BenchState",
    "WorkerProcess",
    "broker_ceiling",
    "burst_coalescing",
    "commit_to_write_latency",
    "end_to_end_throughput",
    "memory_growth",
    "slow_logisense",
]
