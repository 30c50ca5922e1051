"""``billsync drift [--fix] [--json]``: where LogiSense no longer matches Salesforce (SPEC §8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from billsync.cli.common import FAILED, console, emit_json, errors, guarded, say, settings_of, table
from billsync.cli.common import text as shown_text

if TYPE_CHECKING:
    from billsync.config import Settings
    from billsync.messages import ChangeMessage
    from workers.drift.check import Difference, DriftReport

#: Records per Salesforce read (workers.drift.check.DEFAULT_BATCH_SIZE, kept here for ``--help``).
DEFAULT_BATCH_SIZE = 200

MAX_SHOWN_CHARS = 60


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def drift(
        ctx: typer.Context,
        fix: Annotated[
            bool, typer.Option("--fix", help="Re-queue drifted entities with Salesforce's values.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, max=200, help="Records per Salesforce read.")
        ] = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Compare Salesforce, the store and LogiSense; exit 1 when they differ."""
        from billsync import clients
        from billsync.bootstrap import open_store
        from statemachine.fieldmap import FieldMap
        from workers.drift.check import DriftChecker, repair

        settings = settings_of(ctx)
        sessions = open_store(settings, pool_size=2, create=False)
        salesforce = clients.salesforce_client(settings) if settings.sf_instance_url else None
        with clients.logisense_client(settings) as logisense, _progress() as progress:
            report = DriftChecker(
                sessions,
                logisense,
                FieldMap.load(settings.field_map_file),
                salesforce=salesforce,
                batch_size=batch_size,
                progress=progress,
            ).run()
        requeued = repair(report, sessions, publish=_publisher(settings)) if fix else None
        if as_json:
            data = report.as_json()
            if requeued is not None:
                data["requeued"] = requeued
            emit_json(data)
        else:
            _print(report, requeued)
        if report.differences:
            raise typer.Exit(FAILED)


def _publisher(settings: Settings) -> Any:
    from adapters.broker.publisher import publish_messages
    from billsync import clients
    from billsync.config import DEFAULT_AMQP_URL

    url = settings.broker_url_or(DEFAULT_AMQP_URL)
    topology = clients.topology(settings)

    def publish(changes: list[ChangeMessage]) -> int:
        return publish_messages(url, topology, changes)

    return publish


@contextmanager
def _progress() -> Iterator[Any]:
    """A progress bar on stderr (stdout stays clean for ``--json``), one task per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors.real(),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


def _shown(value: Any) -> str:
    text = "" if value is None else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _entity(d: Difference) -> str:
    ls = f"\nLogiSense {d.logisense_id}" if d.logisense_id else ""
    return f"{d.object} {d.sfid or ''}{ls}"


def _wanted(d: Difference) -> str:
    if d.kind == "unknown":
        return ""
    if d.kind == "field" and d.expected != d.salesforce:
        return f"{_shown(d.salesforce)} (= {_shown(d.expected)})"
    return _shown(d.salesforce)


def _held(d: Difference) -> str:
    if d.kind == "store-behind":
        return f"store: {_shown(d.written)}"
    return "" if d.kind == "unknown" else _shown(d.logisense)


def _print(report: DriftReport, requeued: list[str] | None) -> None:
    source = "Salesforce" if report.source == "salesforce" else "store snapshot"
    rows = [
        (
            d.kind,
            _entity(d),
            d.field,
            _wanted(d),
            _held(d),
            d.note,
        )
        for d in report.differences
    ]
    title = f"{len(report.differences)} differences in {report.checked} entities checked"
    shown = table(title, ["kind"], [])
    shown.add_column("entity", min_width=18, overflow="fold")
    for column in ("field", f"{source} value", "LogiSense value", "note"):
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(shown_text(cell) for cell in row))
    console.print(shown)
    if report.skipped:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items()))
        say(f"not compared: {skipped}")
    say(f"LogiSense accounts without sfdcid (never touched): {report.logisense_only}")
    if requeued is not None:
        say(
            f"re-queued {len(requeued)} entities; a running worker writes Salesforce's values "
            "again (run drift once more to confirm)"
        )
