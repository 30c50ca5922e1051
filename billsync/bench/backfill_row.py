"""The backfill row of ``billsync bench`` (SPEC §9): existing accounts through Bulk API 2.0, the
backfill SIGKILLed halfway and started again, every account pushed once.

The figure is accounts/s from the backfill's start (its first read) to the last push. The org is
seeded with in-scope accounts written straight into the Salesforce simulator (no change events:
they existed before billsync). Workers run throughout, as in production. Run this row alone with
``python -m billsync.bench.backfill_row --accounts 100000``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from adapters.logisense.mapping import load_mapping
from billsync.bench.harness import Rig, WorkerProcess, open_rig
from billsync.bench.observe import last_push_time, pushed_count_since, wait_until
from billsync.bench.report import Figure

Progress = Any
SET_SIZE = 10_000
KEY = "backfill_throughput"
LABEL = "backfill via Bulk API 2.0, SIGKILL halfway: accounts/s"
TARGET = "≥ 500 accounts/s"


def backfill_throughput(
    rig: Rig, accounts: int, workers: int, concurrency: int, progress: Progress
) -> Figure:
    """Seed ``accounts``, backfill them with a SIGKILL halfway, and time first read → last push."""
    assert rig.salesforce is not None, "the backfill row needs the Salesforce simulator"
    rig.logisense.faults(latency_ms=0)
    progress(f"backfill: seeding {accounts:,} existing accounts in Salesforce")
    rig.salesforce.admin("POST", "seed/accounts", {"count": accounts, "prefix": "Day one"})
    earlier = set(_sfdcids(rig))  # accounts earlier rows of the run made
    running = [rig.start_worker(concurrency) for _ in range(workers)]
    env = rig.worker_env(backfill_bulk_threshold=0, backfill_set_size=min(SET_SIZE, accounts // 4))
    started = time.time()
    first = _backfill(rig, env, "backfill-1")
    wait_until(
        lambda: _published(rig),
        accounts // 2,
        timeout_s=max(120.0, accounts / 50),
        what="backfill: half published",
        progress=progress,
        interval_s=0.05,
    )
    first.kill()
    at_kill = _published(rig)
    progress(f"backfill: SIGKILLed after {at_kill:,} published; starting it again")
    second = _backfill(rig, env, "backfill-2")
    assert second.process is not None
    second.process.wait(timeout=max(300.0, accounts / 50))
    read_s = time.time() - started
    wait_until(
        lambda: pushed_count_since(rig, started),
        accounts,
        timeout_s=max(300.0, accounts / 20),
        what="backfill: pushed",
        progress=progress,
    )
    finished = last_push_time(rig, started) or time.time()
    second.stop()
    held = _sfdcids(rig)
    duplicated = sum(1 for n in held.values() if n > 1)
    backfilled = len(held.keys() - earlier)
    for worker in running:
        worker.stop()
    rig.workers.clear()
    rate = accounts / (finished - started)
    once = backfilled == accounts and duplicated == 0
    return Figure(
        KEY,
        f"backfill of {accounts:,} accounts via Bulk API 2.0, SIGKILL halfway",
        rate,
        "accounts/s",
        TARGET,
        rate >= 500 and once,
        {
            "accounts": accounts,
            "in_logisense": backfilled,
            "duplicated": duplicated,
            "published_at_kill": at_kill,
            "read_and_published_s": round(read_s, 1),
            "workers": workers,
            "concurrency": concurrency,
        },
    )


def _sfdcids(rig: Rig) -> Counter[str]:
    """How many LogiSense accounts carry each ``sfdcid`` (an account extension)."""
    mapping = load_mapping(None)  # the simulator's
    return Counter(
        sfdcid
        for a in rig.logisense.dump().get("Account", [])
        if (sfdcid := mapping.extensions_of(a).get(mapping.account.sfdcid_extension))
    )


def _backfill(rig: Rig, env: dict[str, str], name: str) -> WorkerProcess:
    process = WorkerProcess(
        env,
        0,
        rig.workdir / f"{name}.log",
        command=["backfill", "--object", "Account", "--json"],
    )
    rig.workers.append(process)
    return process.start(wait=False)


def _published(rig: Rig) -> int:
    from adapters.store.backfill import published

    return rig.read(lambda session: published(session, "Account"))


def main() -> None:
    """Run this row alone and print it."""
    from billsync.bench import report

    parser = argparse.ArgumentParser(prog="python -m billsync.bench.backfill_row")
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    began = time.monotonic()

    def progress(text: str) -> None:
        print(f"{time.monotonic() - began:7.1f}s {text}", flush=True)

    with open_rig(args.broker, args.database, salesforce=True) as rig:
        figure = backfill_throughput(rig, args.accounts, args.workers, args.concurrency, progress)
    from rich.console import Console

    Console().print(report.table([figure]))
    print(figure.detail)


if __name__ == "__main__":
    main()
