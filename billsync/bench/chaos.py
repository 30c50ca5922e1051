"""The reliability suite's scenarios (SPEC §9): the whole system as separate processes, broken
while a producer streams changes, then checked.

Each scenario gets a fresh rig (scratch store, queues, LogiSense simulator), starts two workers
and the producer process, applies its fault while the stream runs, lifts it, and waits until the
system settles. Then ``check`` compares LogiSense with what the producer sent: nothing lost,
nothing duplicated, every name current, every failed entity with a reason.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.store import figures
from billsync.bench.harness import Rig, open_rig

Progress = Callable[[str], None]

#: Worker settings for fault runs: leases of killed workers expire fast, retries ride out faults.
WORKER_SETTINGS: dict[str, Any] = {
    "lease_s": 5,
    "retry_budget_s": 3600,
    "backoff_base_s": 0.2,
    "backoff_cap_s": 2,
    "http_timeout_s": 2,
    "sweep_interval_s": 0.5,
}
RABBITMQ_RESTART = "rabbitmqctl stop_app && rabbitmqctl start_app"
POSTGRES_RESTART = (
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | tail -1) main restart"
)


@dataclass(frozen=True)
class ChaosSizes:
    """How long each stream runs and how much it carries."""

    accounts: int
    rate: float
    seconds: float
    settle_s: float
    kill_every_s: float


BOUNDED = ChaosSizes(accounts=120, rate=40, seconds=10, settle_s=60, kill_every_s=2.5)
FULL = ChaosSizes(accounts=600, rate=80, seconds=45, settle_s=150, kill_every_s=3)


@dataclass
class Outcome:
    """What a scenario left behind."""

    scenario: str
    accounts: int = 0
    renames: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    wrong_parent: list[str] = field(default_factory=list)
    failed_without_reason: list[str] = field(default_factory=list)
    unexpected_failed: dict[str, str] = field(default_factory=dict)
    invalid_in_logisense: list[str] = field(default_factory=list)
    faults: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated, stale or unexplained."""
        return self.error is None and not (
            self.lost
            or self.duplicated
            or self.stale
            or self.wrong_parent
            or self.failed_without_reason
            or self.unexpected_failed
            or self.invalid_in_logisense
        )

    def summary(self) -> str:
        """One line for people."""
        parts = [
            f"{self.scenario}: {'OK' if self.clean else 'PROBLEMS'}",
            f"{self.accounts} accounts, {self.renames} renames, {self.seconds:.0f} s",
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, stale {len(self.stale)}",
            f"wrong parent {len(self.wrong_parent)}, failed w/o reason "
            f"{len(self.failed_without_reason)}, unexpected failed {len(self.unexpected_failed)}",
            f"faults {self.faults}",
        ]
        if self.error:
            parts.append(f"error: {self.error}")
        return "; ".join(parts)


def check(rig: Rig, expected: dict[str, Any]) -> Outcome:
    """Compare LogiSense and the store with what Salesforce holds (``expected``)."""
    outcome = Outcome("check")
    accounts: dict[str, dict[str, Any]] = expected["accounts"]
    dump = rig.logisense.dump()
    parents = {r["accountId"]: r["parentAccountId"] for r in dump.get("Account/Parent", [])}
    viewed = [
        {
            **a,
            "sfdcid": (a.get("extensions") or {}).get("sfdcid"),
            "parentAccountId": parents.get(a["identity"]),
        }
        for a in dump.get("Account", [])
    ]
    in_ls = [a for a in viewed if a["sfdcid"]]
    counts = Counter(str(a["sfdcid"]).upper() for a in in_ls)
    outcome.duplicated = sorted(s for s, n in counts.items() if n > 1)
    by_sfid = {str(a["sfdcid"]).upper(): a for a in in_ls}
    for sfid, want in accounts.items():
        found = by_sfid.get(sfid.upper())
        if not want["valid"]:
            if found is not None:
                outcome.invalid_in_logisense.append(sfid)
            continue
        if found is None:
            outcome.lost.append(sfid)
            continue
        if found.get("name") != want["name"]:
            outcome.stale.append(f"{sfid}: {found.get('name')!r} != {want['name']!r}")
        if want["parent"]:
            parent_record = by_sfid.get(want["parent"].upper())
            if parent_record is None or found.get("parentAccountId") != parent_record.get(
                "identity"
            ):
                outcome.wrong_parent.append(sfid)
    for sfid, last_error in rig.read(figures.failed_entities):
        if not last_error:
            outcome.failed_without_reason.append(str(sfid))
        sent = accounts.get(str(sfid))
        if sent is not None and sent["valid"]:
            outcome.unexpected_failed[str(sfid)] = str(last_error)
    return outcome


def _merge(outcome: Outcome, found: Outcome) -> None:
    for name in (
        "lost",
        "duplicated",
        "stale",
        "wrong_parent",
        "failed_without_reason",
        "unexpected_failed",
        "invalid_in_logisense",
    ):
        setattr(outcome, name, getattr(found, name))


def _producer(rig: Rig, sizes: ChaosSizes, out: Path) -> subprocess.Popen[bytes]:
    log = open(rig.workdir / "producer.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "billsync.bench.producer",
            "--broker",
            rig.broker_url,
            "--prefix",
            rig.topology.prefix,
            "--accounts",
            str(sizes.accounts),
            "--rate",
            str(sizes.rate),
            "--seconds",
            str(sizes.seconds),
            "--out",
            str(out),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def _settle(rig: Rig, expected: dict[str, Any], timeout_s: float) -> Outcome:
    """Poll ``check`` until it is clean or ``timeout_s`` passes; the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check(rig, expected)
        if found.clean or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


Fault = Callable[[Rig, threading.Event, dict[str, Any]], None]


def kill_workers(sizes: ChaosSizes) -> Fault:
    """SIGKILL a random worker every ``kill_every_s`` and start a new one in its place."""

    def fault(rig: Rig, stop: threading.Event, notes: dict[str, Any]) -> None:
        chooser = random.Random(11)
        notes["kills"] = 0
        while not stop.wait(sizes.kill_every_s):
            victim = chooser.choice(rig.workers)
            victim.kill()
            notes["kills"] += 1
            replacement = rig.start_worker(8, **WORKER_SETTINGS)
            rig.workers.remove(victim)
            del replacement

    return fault


def restart_service(command: str, key: str, *, after_s: float = 4.0) -> Fault:
    """Run a restart command once, ``after_s`` into the stream."""

    def fault(rig: Rig, stop: threading.Event, notes: dict[str, Any]) -> None:
        if stop.wait(after_s):
            return
        started = time.monotonic()
        result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
        notes[key] = {
            "exit": result.returncode,
            "seconds": round(time.monotonic() - started, 1),
        }

    return fault


def logisense_faults(rig: Rig, stop: threading.Event, notes: dict[str, Any]) -> None:
    """20 % 5xx, 5 % one-second timeouts and 5 % 429s for the whole stream."""
    knobs = {
        "error_rate": 0.20,
        "error_status": 503,
        "timeout_rate": 0.05,
        "timeout_s": 1.0,
        "throttle_rate": 0.05,
        "retry_after_s": 1,
    }
    rig.logisense.faults(**knobs)
    notes.update(knobs)
    stop.wait()
    notes["injected"] = rig.logisense.stats().get("faults_injected")
    rig.logisense.faults(error_rate=0, timeout_rate=0, throttle_rate=0)


def run_scenario(
    name: str,
    fault: Fault,
    sizes: ChaosSizes,
    *,
    broker_url: str,
    database_url: str,
    progress: Progress,
) -> Outcome:
    """One scenario on a fresh rig; never raises for a finding, only reports it."""
    outcome = Outcome(name)
    started = time.monotonic()
    with open_rig(broker_url, database_url) as rig:
        for _ in range(2):
            rig.start_worker(8, **WORKER_SETTINGS)
        out = rig.workdir / "expected.json"
        producer = _producer(rig, sizes, out)
        stop = threading.Event()
        thread = threading.Thread(target=fault, args=(rig, stop, outcome.faults), daemon=True)
        thread.start()
        progress(f"{name}: stream running ({sizes.seconds:.0f} s)")
        code = producer.wait(timeout=sizes.seconds + 300)
        stop.set()
        thread.join(timeout=120)
        if code != 0 or not out.exists():
            outcome.error = f"producer exited {code}"
            return outcome
        expected = json.loads(out.read_text())
        outcome.accounts = len(expected["accounts"])
        outcome.renames = int(expected["renames"])
        outcome.faults["producer_resends"] = expected.get("resends", 0)
        progress(f"{name}: stream done, waiting for the system to settle")
        _merge(outcome, _settle(rig, expected, sizes.settle_s))
        outcome.seconds = time.monotonic() - started
        if not outcome.clean:
            keep = Path(f"/tmp/billsync-reliability-{name}-{int(time.time())}")
            keep.mkdir(parents=True, exist_ok=True)
            for path in rig.workdir.iterdir():
                if path.is_file():
                    keep.joinpath(path.name).write_bytes(path.read_bytes())
            outcome.faults["logs"] = str(keep)
    return outcome


def scenarios(sizes: ChaosSizes) -> dict[str, Fault]:
    """Every fault scenario of SPEC §9, by name."""
    return {
        "worker-kills": kill_workers(sizes),
        "rabbitmq-restart": restart_service(RABBITMQ_RESTART, "rabbitmq"),
        "postgres-restart": restart_service(POSTGRES_RESTART, "postgres"),
        "logisense-faults": logisense_faults,
    }
