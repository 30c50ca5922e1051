"""``billsync backfill [--object ...] [--dry-run]``: load, or preview, the in-scope records that
existed in Salesforce before billsync (docs/day-one.md).

Heavy modules (the adapters, the workers, rich's progress bar) are imported inside the command,
so that ``--help`` and shell completion stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from billsync.cli.common import (
    USAGE,
    console,
    emit_json,
    errors,
    fail,
    guarded,
    say,
    settings_of,
    table,
)
from billsync.cli.filters import JsonOption, none_if_empty

if TYPE_CHECKING:
    from rich.progress import Progress

    from adapters.store.db import Sessions
    from billsync.config import Settings
    from statemachine.fieldmap import FieldMap
    from workers.backfill.preview import Preview
    from workers.backfill.run import BackfillReport
    from workers.backfill.source import BackfillSource

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
        as_json: JsonOption = False,
    ) -> None:
        """Load every in-scope record that exists in Salesforce (resumes an interrupted run)."""
        from adapters.salesforce.bulk import BulkQueryClient
        from billsync import clients
        from statemachine.fieldmap import FieldMap
        from workers.backfill.source import OBJECT_SETS, BackfillSource

        if object_set not in OBJECT_SETS:
            fail(f"--object must be one of {', '.join(OBJECT_SETS)}, not {object_set!r}", USAGE)
        settings = settings_of(ctx)
        settings.require("sf_instance_url")
        objects = OBJECT_SETS[object_set]
        salesforce = clients.salesforce_client(settings)
        field_map = FieldMap.load(settings.field_map_file)
        threshold = settings.backfill_bulk_threshold if bulk_threshold is None else bulk_threshold
        bulk = BulkQueryClient(salesforce, set_size=settings.backfill_set_size)
        source = BackfillSource(salesforce, field_map, bulk_threshold=threshold, bulk=bulk)
        if dry_run:
            _preview(settings, source, field_map, objects, as_json)
            return
        _load(settings, source, objects, restart=restart, as_json=as_json)


def _load(
    settings: Settings,
    source: BackfillSource,
    objects: tuple[str, ...],
    *,
    restart: bool,
    as_json: bool,
) -> None:
    from adapters.store.backfill import BackfillCursors
    from billsync import clients
    from billsync.bootstrap import open_store
    from billsync.config import DEFAULT_AMQP_URL
    from workers.backfill.run import Backfill, restart_from_scratch

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

        job = Backfill(source, cursors, url, clients.topology(settings), on_progress=on_progress)
        report = job.run(objects)
    _print_report(report, as_json)


def _progress(quiet: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<24}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors.real(),  # stderr: --json output stays pipeable
        disable=quiet,
        transient=False,
    )


def _print_report(report: BackfillReport, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "objects": [
                    {
                        "object": o.object,
                        "mode": o.mode,
                        "total": o.total,
                        "read": o.read,
                        "published": o.published,
                        "unusable": o.unusable,
                        "resumed": o.resumed,
                    }
                    for o in report.objects
                ]
            }
        )
        return
    rows = [
        (o.object, o.mode, o.total, o.read, o.published, o.unusable, "yes" if o.resumed else "")
        for o in report.objects
    ]
    console.print(
        table(
            "backfill",
            ("object", "read by", "in scope", "read", "published", "unusable", "resumed"),
            rows,
        )
    )
    if any(o.object == "Opportunity" for o in report.objects):
        say(
            "Won opportunities are not pushed by a backfill: each is pushed when requested "
            "(button, Flow, `billsync push opportunity <id>`)."
        )
    say("The workers now merge and push what was published: `billsync status <id>`.")


def _preview(
    settings: Settings,
    source: BackfillSource,
    field_map: FieldMap,
    objects: tuple[str, ...],
    as_json: bool,
) -> None:
    from billsync import clients
    from workers.backfill.preview import BackfillPreview

    sessions = _read_only_store(settings)
    logisense = clients.logisense_client(settings)
    try:
        preview = BackfillPreview(source, logisense, field_map, sessions).run(objects)
    finally:
        logisense.close()
    _print_preview(preview, as_json)


def _read_only_store(settings: Settings) -> Sessions | None:
    """The store, if it exists, opened without creating or migrating it (a dry run writes
    nothing): None when the SQLite file or the schema is not there yet (then every record is
    new). An unreachable store is the usual one-line error, exit 3."""
    from adapters.store.connect import StoreMissing, has_schema, require_existing, store_errors
    from adapters.store.db import make_engine, session_factory

    url = settings.database_url
    with store_errors(url):
        try:
            require_existing(url)
        except StoreMissing:
            return None
        engine = make_engine(url, pool_size=1)
        if not has_schema(engine):
            engine.dispose()
            return None
        return session_factory(engine)


def _print_preview(preview: Preview, as_json: bool) -> None:
    from workers.backfill.preview import OUTCOMES

    totals = preview.totals()
    if as_json:
        emit_json(
            {
                "totals": totals,
                "by_object": [
                    {"object": o, "outcome": r, "count": n}
                    for (o, r), n in sorted(preview.counts.items())
                ],
                "notes": [
                    {
                        "object": v.object,
                        "sfid": v.sfid,
                        "name": none_if_empty(v.name),
                        "outcome": v.outcome,
                        "reason": none_if_empty(v.reason),
                    }
                    for v in preview.notes
                ],
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
        say(
            (f"{verdict.outcome:<7}", "red" if verdict.outcome == "fail" else ""),
            f" {verdict.object} {verdict.sfid} ",
            repr(verdict.name),
            ": ",
            verdict.reason,
        )
    if len(shown) < len(preview.notes):
        say(f"... and {len(preview.notes) - len(shown)} more (use --json for all)")
