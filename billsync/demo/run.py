"""``billsync demo``: the whole system in one process on the embedded defaults.

Both simulators, the catalog sync, the streaming ingest, the in-memory broker (or RabbitMQ), the
store (SQLite, or PostgreSQL) and a worker, fed by a sales team working in the simulated
Salesforce; live progress, then a summary table of every entity's state.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.store import record_reads
from adapters.store.models import SyncRecord
from billsync import bootstrap, clients
from billsync.config import MEMORY_BROKER_URL, Settings
from billsync.demo.rep import Rep
from billsync.demo.scenario import NOT_REQUESTED, Expectations, MorningScenario
from workers.catalog.sync import CatalogSync
from workers.sync.service import WorkerService

#: Wide enough for the summary when the output is a file or a CI log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)
LS_USER, LS_PASSWORD, LS_CLIENT = "demo", "demo-ls-password", "billsync-demo"
SF_CLIENT, SF_SECRET = "billsync-demo", "demo-sf-secret"


def run_demo(
    settings: Settings, *, broker: str | None, database: str | None, timeout_s: float
) -> int:
    """Run the scenario; 0 when every entity ends as expected."""
    from simulators.logisense import LogiSenseSimulator
    from simulators.salesforce import SalesforceSimulator

    workdir = Path(tempfile.mkdtemp(prefix="billsync-demo-"))
    database = database or f"sqlite:///{workdir}/billsync-demo.db"
    broker = broker or MEMORY_BROKER_URL
    with (
        LogiSenseSimulator(
            username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
        ) as logisense,
        SalesforceSimulator(
            client_id=SF_CLIENT,
            client_secret=SF_SECRET,
            ca_file=str(workdir / "sf-ca.pem"),
            longpoll_timeout_s=2.0,
        ) as salesforce,
    ):
        console.print(
            f"Salesforce simulator {salesforce.base_url}, LogiSense simulator "
            f"{logisense.base_url}\nstore {database}, broker {broker}",
            highlight=False,
        )
        demo = _demo_settings(settings, broker, database, salesforce, logisense)
        if not _doctor(demo):
            return 1
        _catalog(demo)
        service = bootstrap.worker_service(demo, default_broker=broker)
        ingest = bootstrap.stream_ingest(demo, sessions=service.ctx.sessions, broker_url=broker)
        stop = threading.Event()
        ingest_thread = threading.Thread(
            target=ingest.run, args=(stop,), name="ingest", daemon=True
        )
        service.start()
        ingest_thread.start()
        try:
            if not ingest.ready.wait(30):
                console.print("[red]the ingest did not subscribe within 30 s[/red]")
                return 1
            want = _play(
                Rep(salesforce, client_id=SF_CLIENT, client_secret=SF_SECRET), service, timeout_s
            )
        finally:
            stop.set()
            ingest_thread.join(timeout=15)
            service.stop(timeout=10)
        return _summary(want, service, logisense, salesforce)


def _demo_settings(
    settings: Settings, broker: str, database: str, salesforce: Any, logisense: Any
) -> Settings:
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "broker_url": broker,
            "database_url": database,
            "queue_prefix": "billsync-demo",
            "ls_base_url": logisense.base_url,
            "ls_username": LS_USER,
            "ls_password": LS_PASSWORD,
            "ls_client_id": LS_CLIENT,
            "sf_instance_url": salesforce.base_url,
            "sf_client_id": SF_CLIENT,
            "sf_client_secret": SF_SECRET,
            "sf_ca_bundle": salesforce.ca_file,
            "sweep_interval_s": 0.2,
            "backoff_base_s": 0.2,
            "backoff_cap_s": 2.0,
            "worker_concurrency": 8,
        }
    )


def _doctor(settings: Settings) -> bool:
    """``billsync doctor`` first, as on a real deployment; its failures stop the demo."""
    from adapters.store.db import migrate
    from billsync.cli.doctor import print_result
    from billsync.doctor.run import run_all

    migrate(settings.database_url)
    results = list(run_all(settings))
    failed = [r for r in results if not r.passed]
    console.print(
        f"[bold]doctor[/bold]: {len(results) - len(failed)} of {len(results)} checks passed",
        highlight=False,
    )
    for result in failed:
        print_result(result)
    return not failed


def _catalog(settings: Settings) -> None:

    console.print(
        "[bold]catalog sync[/bold]: LogiSense products and reference data into the "
        "Salesforce price book"
    )
    summary = CatalogSync(
        clients.logisense_client(settings),
        clients.salesforce_client(settings),
        pricebook_name=settings.sf_pricebook_name,
    ).run()
    counts = {
        name: (c.created, c.updated, c.deactivated, c.unchanged)
        for name, c in summary.objects.items()
    }
    table = Table(title_justify="left")
    for column in ("object", "created", "updated", "deactivated", "unchanged"):
        table.add_column(column)
    for name, row in counts.items():
        table.add_row(name, *(str(v) for v in row))
    console.print(table)


def _play(rep: Rep, service: WorkerService, timeout_s: float) -> Expectations:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} entities as expected"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def say(text: str) -> None:
            progress.update(task, description=text)

        scenario = MorningScenario(rep, say)
        roles = scenario.accounts()
        scenario.contacts(roles)
        progress.update(task, total=len(scenario.want.expected))
        _settle(scenario.want, service, progress, task, timeout_s / 3, partial=True)
        scenario.updates(roles)
        scenario.opportunities(roles)
        progress.update(task, total=len(scenario.want.expected))
        _settle(scenario.want, service, progress, task, timeout_s / 3, partial=True)
        scenario.late_sync(roles)
        say("waiting for billsync to finish")
        _settle(scenario.want, service, progress, task, timeout_s / 3, partial=False)
        return scenario.want


def _settle(
    want: Expectations,
    service: WorkerService,
    progress: Progress,
    task: Any,
    timeout_s: float,
    *,
    partial: bool,
) -> None:
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        records = _records(service)
        done = sum(1 for sfid, state in want.expected.items() if _state(records, sfid) == state)
        progress.update(task, completed=done)
        busy = any(r.next_attempt_at is not None and r.in_scope for r in records.values())
        if busy:
            quiet_since = time.monotonic()
        if done == len(want.expected) and not busy:
            return
        if partial and time.monotonic() - quiet_since > 2.0:
            return
        time.sleep(0.2)


def _records(service: WorkerService) -> dict[str, SyncRecord]:
    with service.ctx.sessions() as session:
        return {r.sfid: r for r in record_reads.every_record(session)}


def _state(records: dict[str, SyncRecord], sfid: str) -> str:
    record = records.get(sfid)
    return record.state if record else NOT_REQUESTED


def _summary(want: Expectations, service: WorkerService, logisense: Any, salesforce: Any) -> int:
    records = _records(service)
    table = Table(title="billsync demo: every entity", title_justify="left")
    for column in ("object", "salesforce id", "name", "state", "LogiSense id"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="fold")
    wrong = 0
    order = {"Account": 0, "Contact": 1, "Opportunity": 2}
    for sfid in sorted(want.expected, key=lambda s: (order.get(want.objects[s], 3), s)):
        record = records.get(sfid)
        state, expected = _state(records, sfid), want.expected[sfid]
        ok = state == expected
        wrong += not ok
        detail = (record.last_error or record.waiting_for or "") if record else ""
        note = want.notes.get(sfid, "")
        why = f"{note}: {detail}" if note and detail else note or detail
        shown = state if ok else f"{state} (expected {expected})"
        table.add_row(
            want.objects[sfid],
            sfid,
            want.names[sfid],
            f"[{'green' if ok else 'red'}]{shown}[/]",
            str(record.ls_id or "") if record else "",
            why[:160],
        )
    console.print(table)
    ls, sf = logisense.stats.as_json(), salesforce.stats.as_json()
    console.print(
        f"LogiSense served {ls['requests_total']} requests ({ls['writes_total']} writes);"
        f" Salesforce served {sf['requests_total']} (the reps' included)."
    )
    if wrong:
        console.print(
            f"[red]{wrong} of {len(want.expected)} entities did not end as expected[/red]"
        )
        return 1
    console.print(f"[green]all {len(want.expected)} entities ended as expected[/green]")
    return 0
