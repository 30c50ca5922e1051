"""``billsync status``, ``billsync failed`` and ``billsync retry``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from billsync.bootstrap import open_store
from billsync.cli.common import NOT_FOUND, console, emit_json, fail, guarded, settings_of, table
from workers import admin


def _when(at: float | None) -> str:
    if at is None:
        return ""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


PLAN_ITEMS = "packageServicePricePlan"


def _print_written(written: dict[str, Any]) -> None:
    """What billsync last wrote to LogiSense; a price plan's items as a table of their own."""
    plain = sorted((k, v) for k, v in written.items() if k != PLAN_ITEMS)
    console.print(table("last written to LogiSense", ["field", "value"], plain))
    items = [i for i in written.get(PLAN_ITEMS) or [] if isinstance(i, dict)]
    if items:
        # the item's field names come from the LogiSense mapping file: show whatever was sent
        columns = list(dict.fromkeys(k for i in items for k in i))
        rows = [tuple(_cell(i.get(c)) for c in columns) for i in items]
        console.print(table("price plan items", columns, rows))


def _cell(value: Any) -> Any:
    """A plan item value for a table cell; nested lists (prices per status) as compact text."""
    if isinstance(value, list):
        return ", ".join(
            ": ".join(str(v) for v in entry.values()) if isinstance(entry, dict) else str(entry)
            for entry in value
        )
    return value


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""

    @app.command()
    @guarded
    def status(
        ctx: typer.Context,
        salesforce_id: Annotated[str, typer.Argument(help="Account, Contact or Opportunity id.")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """An entity's state, snapshot, LogiSense id and history."""
        sessions = open_store(settings_of(ctx), pool_size=2)
        found = admin.entity_status(sessions, salesforce_id)
        if not found:
            fail(f"no entity with Salesforce id {salesforce_id} has been seen", NOT_FOUND)
        if as_json:
            emit_json([s.as_json() for s in found])
            return
        for entity in found:
            console.print(
                f"[bold]{entity.object} {entity.sfid}[/bold]: [cyan]{entity.state}"
                f"[/cyan]  LogiSense id: {entity.logisense_id or '-'}"
                f"  in scope: {'yes' if entity.in_scope else 'no'}"
            )
            if entity.waiting_for:
                console.print(f"  waiting: {entity.waiting_for}")
            if entity.last_error:
                console.print(f"  last error: {entity.last_error}")
            if entity.next_attempt_at and entity.attempts:
                console.print(
                    f"  attempt {entity.attempts}, next at {_when(entity.next_attempt_at)}"
                )
            console.print(table("snapshot", ["field", "value"], sorted(entity.snapshot.items())))
            if entity.written:
                _print_written(entity.written)
            console.print(
                table(
                    "history",
                    ["time", "from", "to", "trigger", "attempt", "reason"],
                    [
                        (_when(h.at), h.from_state, h.to_state, h.trigger, h.attempt, h.reason)
                        for h in entity.history
                    ],
                )
            )

    @app.command()
    @guarded
    def failed(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Entities in the failed state, with their reasons."""
        sessions = open_store(settings_of(ctx), pool_size=2)
        rows = admin.failed_entities(sessions)
        if as_json:
            emit_json(
                [
                    {
                        "object": r.object,
                        "sfid": r.sfid,
                        "attempts": r.attempts,
                        "reason": r.last_error,
                    }
                    for r in rows
                ]
            )
            return
        console.print(
            table(
                f"{len(rows)} failed",
                ["object", "salesforce id", "attempts", "reason"],
                [(r.object, r.sfid, r.attempts, r.last_error) for r in rows],
            )
        )

    @app.command()
    @guarded
    def retry(
        ctx: typer.Context,
        salesforce_ids: Annotated[list[str] | None, typer.Argument(help="Ids to retry.")] = None,
        all_failed: Annotated[bool, typer.Option("--all", help="Retry every failed one.")] = False,
    ) -> None:
        """Move failed entities back to pending; a worker picks them up."""
        if not salesforce_ids and not all_failed:
            fail("name the ids to retry, or pass --all", 2)
        sessions = open_store(settings_of(ctx), pool_size=2)
        count = admin.retry(sessions, None if all_failed else list(salesforce_ids or []))
        console.print(f"{count} entities moved from failed to pending")
        if salesforce_ids and count < len(salesforce_ids):
            fail(f"{len(salesforce_ids) - count} of the ids are not failed entities", NOT_FOUND)
