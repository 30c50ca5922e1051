"""``billsync backfill [--object ...] [--dry-run]``: load, or preview, the in-scope records that
existed in Salesforce before billsync (docs/day-one.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from adapters.broker.topology import Topology
from adapters.logisense import LogiSenseClient
from adapters.salesforce.bulk import BulkQueryClient
from adapters.salesforce.rest import SalesforceClient
from adapters.store.backfill import BackfillCursors
from adapters.store.db import make_engine, session_factory
from billsync.cli.common import USAGE, console, emit_json, fail, guarded, settings_of, table
from billsync.config import DEFAULT_AMQP_URL, Settings
from statemachine.fieldmap import FieldMap
from workers.backfill import Backfill, BackfillReport, restart_from_scratch
from workers.backfill_preview import OUTCOMES, BackfillPreview, Preview
from workers.backfill_source import OBJECT_SETS, BackfillSource

#: Updates shown with their cause (failures are always all shown).
NOTES_SHOWN = 200


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def backfill(
        ctx: typer.Context,
        object_set: Annotated[
            str, typer.Option("--object", help="Account, Contact, Opportunity or all.")
        ] = "all",
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print what would happen; write nothing.")
        ] = False,
        restart: Annotated[
            bool, typer.Option("--restart", help="Forget where an interrupted run stopped.")
        ] = False,
        bulk_threshold: Annotated[
            int | None,
            typer.Option(help="Use Bulk API 2.0 above this many records (default from config)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Load every in-scope record that exists in Salesforce (resumes an interrupted run)."""
        if object_set not in OBJECT_SETS:
            fail(f"--object must be one of {', '.join(OBJECT_SETS)}, not {object_set!r}", USAGE)
        settings = settings_of(ctx)
        settings.require("sf_instance_url")
        objects = OBJECT_SETS[object_set]
        salesforce = SalesforceClient.from_settings(settings)
        field_map = FieldMap.load(settings.field_map_file)
        threshold = settings.backfill_bulk_threshold if bulk_threshold is None else bulk_threshold
        bulk = BulkQueryClient(salesforce, set_size=settings.backfill_set_size)
        source = BackfillSource(salesforce, field_map, bulk_threshold=threshold, bulk=bulk)
        if dry_run:
            _preview(settings, source, field_map, objects, as_json)
            return
        from billsync.bootstrap import open_store

        cursors = BackfillCursors(open_store(settings, pool_size=2))
        if restart:
            restart_from_scratch(cursors, objects)
        url = settings.broker_url_or(DEFAULT_AMQP_URL)
        with _progress(as_json) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(object_name: str, done: int, total: int) -> None:
                if object_name not in tasks:
                    tasks[object_name] = progress.add_task(object_name, total=total or None)
                progress.update(tasks[object_name], completed=done, total=total or None)

            job = Backfill(
                source, cursors, url, Topology.from_settings(settings), on_progress=on_progress
            )
            report = job.run(objects)
        _print_report(report, as_json)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console.real(),
        disable=quiet,
        transient=False,
    )


def _print_report(report: BackfillReport, as_json: bool) -> None:
    rows = [
        (o.object, o.mode, o.total, o.read, o.published, o.unusable, "yes" if o.resumed else "")
        for o in report.objects
    ]
    if as_json:
        emit_json([o.__dict__ for o in report.objects])
        return
    console.print(
        table(
            "backfill",
            ("object", "read by", "in scope", "read", "published", "unusable", "resumed"),
            rows,
        )
    )
    if any(o.object == "Opportunity" for o in report.objects):
        console.print(
            "Won opportunities are not pushed by a backfill: each is pushed when requested "
            "(button, Flow, `billsync push opportunity <id>`)."
        )
    console.print("The workers now merge and push what was published: `billsync status <id>`.")


def _preview(
    settings: Settings,
    source: BackfillSource,
    field_map: FieldMap,
    objects: tuple[str, ...],
    as_json: bool,
) -> None:
    logisense = LogiSenseClient.from_settings(settings)
    try:
        preview = BackfillPreview(source, logisense, field_map, _read_only_store(settings)).run(
            objects
        )
    finally:
        logisense.close()
    _print_preview(preview, as_json)


def _read_only_store(settings: Settings) -> sessionmaker[Session] | None:
    """The store, if it exists, opened without migrating (a dry run writes nothing)."""
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return None
    engine = make_engine(url, pool_size=1)
    if not inspect(engine).has_table("sync_record"):
        return None
    return session_factory(engine)


def _print_preview(preview: Preview, as_json: bool) -> None:
    totals = preview.totals()
    if as_json:
        emit_json(
            {
                "totals": totals,
                "by_object": [
                    {"object": o, "outcome": r, "count": n}
                    for (o, r), n in sorted(preview.counts.items())
                ],
                "notes": [v.__dict__ for v in preview.notes],
            }
        )
        return
    objects = sorted({o for o, _ in preview.counts})
    rows = [(o, *(preview.counts[(o, r)] for r in OUTCOMES)) for o in objects]
    rows.append(("total", *(totals[r] for r in OUTCOMES)))
    console.print(table("backfill --dry-run (nothing was written)", ("object", *OUTCOMES), rows))
    failures = [v for v in preview.notes if v.outcome == "fail"]
    others = [v for v in preview.notes if v.outcome != "fail"]
    shown = failures + others[:NOTES_SHOWN]  # every failure, with its reason
    for verdict in shown:
        console.print(
            f"{verdict.outcome:<7} {verdict.object} {verdict.sfid} {verdict.name!r}: "
            f"{verdict.reason}",
            highlight=False,
            soft_wrap=True,
        )
    if len(shown) < len(preview.notes):
        console.print(f"... and {len(preview.notes) - len(shown)} more (use --json for all)")
