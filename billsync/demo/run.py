"""``billsync demo``: both simulators, the broker, the store and a worker in one process, fed the
scripted scenario, with live progress and a summary table of every entity's state."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from adapters.store.models import SyncRecord
from billsync import bootstrap
from billsync.config import MEMORY_BROKER_URL, Settings
from billsync.demo.scenario import Scenario, build

console = Console()
DEMO_USER, DEMO_PASSWORD, DEMO_CLIENT = "demo", "demo-password", "billsync-demo"


def run_demo(
    settings: Settings, *, broker: str | None, database: str | None, timeout_s: float
) -> int:
    """Run the scenario; 0 when every entity ends as expected."""
    from simulators.logisense import LogiSenseSimulator

    workdir = Path(tempfile.mkdtemp(prefix="billsync-demo-"))
    database = database or f"sqlite:///{workdir}/billsync-demo.db"
    broker = broker or MEMORY_BROKER_URL
    with LogiSenseSimulator(
        username=DEMO_USER, password=DEMO_PASSWORD, client_id=DEMO_CLIENT
    ) as logisense:
        console.print(f"LogiSense simulator at {logisense.base_url}")
        console.print(f"store: {database}\nbroker: {broker}")
        demo_settings = settings.model_copy(
            update={
                "broker_url": broker,
                "database_url": database,
                "ls_base_url": logisense.base_url,
                "ls_username": DEMO_USER,
                "ls_password": None,
                "ls_client_id": DEMO_CLIENT,
                "queue_prefix": "billsync-demo",
                "sweep_interval_s": 0.2,
                "backoff_base_s": 0.2,
                "backoff_cap_s": 2.0,
            }
        )
        demo_settings = Settings.model_validate(
            {
                **demo_settings.model_dump(),
                "ls_password": DEMO_PASSWORD,
            }
        )
        service = bootstrap.worker_service(demo_settings, default_broker=broker)
        service.start()
        try:
            scenario = build()
            _play(scenario, service, broker, Topology.from_settings(demo_settings), timeout_s)
        finally:
            service.stop(timeout=10)
        return _summary(scenario, service, logisense)


def _play(
    scenario: Scenario,
    service: bootstrap.WorkerService,
    broker: str,
    topology: Topology,
    timeout_s: float,
) -> None:
    total = len(scenario.expected)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} entities as expected"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("syncing", total=total)
        for number, wave in enumerate(scenario.waves, start=1):
            progress.update(
                task, description=f"wave {number}/{len(scenario.waves)}: {len(wave)} changes"
            )
            publish_messages(broker, topology, wave)
            deadline = time.monotonic() + timeout_s / len(scenario.waves)
            while time.monotonic() < deadline:
                done = _matching(scenario, service)
                progress.update(task, completed=done)
                if done == total and _idle(service):
                    break
                time.sleep(0.2)


def _states(service: bootstrap.WorkerService) -> dict[str, SyncRecord]:
    with service.ctx.sessions() as session:
        return {r.sfid: r for r in session.scalars(select(SyncRecord))}


def _matching(scenario: Scenario, service: bootstrap.WorkerService) -> int:
    states = _states(service)
    return sum(
        1
        for sfid, want in scenario.expected.items()
        if sfid in states and states[sfid].state == want
    )


def _idle(service: bootstrap.WorkerService) -> bool:
    records = _states(service).values()
    return not any(r.next_attempt_at is not None and r.in_scope for r in records)


def _summary(scenario: Scenario, service: bootstrap.WorkerService, logisense: object) -> int:
    records = _states(service)
    table = Table(title="billsync demo: every entity", title_justify="left")
    for column in ("object", "salesforce id", "name", "state", "expected", "LogiSense id"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="ellipsis", no_wrap=True, max_width=70)
    wrong = 0
    for sfid in sorted(scenario.expected, key=lambda s: (s[:3], s)):
        record = records.get(sfid)
        state = record.state if record else "(not seen)"
        expected = scenario.expected[sfid]
        ok = state == expected
        wrong += not ok
        why = (record.last_error or record.waiting_for or "") if record else ""
        note = scenario.notes.get(sfid, "")
        table.add_row(
            record.object if record else "?",
            sfid,
            scenario.names.get(sfid, ""),
            f"[{'green' if ok else 'red'}]{state}[/]",
            expected,
            str(record.ls_id or "") if record else "",
            (note + ": " if note else "") + why[:110],
        )
    console.print(table)
    stats = logisense.stats.as_json()  # type: ignore[attr-defined]
    console.print(
        f"LogiSense served {stats['requests_total']} requests, {stats['writes_total']} writes."
    )
    if wrong:
        console.print(f"[red]{wrong} entities did not end as expected[/red]")
        return 1
    console.print(f"[green]all {len(scenario.expected)} entities ended as expected[/green]")
    return 0
