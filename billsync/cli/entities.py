"""``billsync status``, ``billsync entities``, ``billsync failed`` and ``billsync retry``.

Heavy modules (the store, the workers) are imported inside the commands, so that ``--help`` and
shell completion stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from billsync.cli.common import (
    FAILED,
    NOT_FOUND,
    USAGE,
    console,
    emit_json,
    emit_listing,
    fail,
    guarded,
    line,
    listing_title,
    say,
    store_of,
    table,
)
from billsync.cli.filters import (
    DryRunOption,
    JsonOption,
    LimitOption,
    ObjectOption,
    ReasonOption,
    SinceOption,
    StateOption,
    iso,
    none_if_empty,
    parse_since,
    shown_time,
)

if TYPE_CHECKING:
    from adapters.store.entity_listing import EntityFilter, EntityRow
    from workers.ops.admin import EntityStatus

PLAN_ITEMS = "packageServicePricePlan"
DEFAULT_LIMIT = 100


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


def status_json(entity: EntityStatus) -> dict[str, Any]:
    """One entity in the documented JSON shape (docs/operations.md)."""
    return {
        "object": entity.object,
        "sfid": entity.sfid,
        "name": entity.name,
        "state": entity.state,
        "in_scope": entity.in_scope,
        "logisense_id": entity.logisense_id,
        "attempts": entity.attempts,
        "next_attempt_at": iso(entity.next_attempt_at),
        "waiting_for": none_if_empty(entity.waiting_for),
        "last_error": none_if_empty(entity.last_error),
        "snapshot": entity.snapshot,
        "written": entity.written,
        "history": [
            {
                "at": iso(h.at),
                "from_state": h.from_state,
                "to_state": h.to_state,
                "trigger": h.trigger,
                "attempt": h.attempt,
                "reason": none_if_empty(h.reason),
                "worker": h.worker,
            }
            for h in entity.history
        ],
        "operator_actions": [
            {"at": iso(a.at), "actor": a.actor, "action": a.action, "detail": a.detail}
            for a in entity.actions
        ],
    }


def _print_status(entity: EntityStatus) -> None:
    say(
        (f"{entity.object} {entity.sfid}", "bold"),
        f" {entity.name}" if entity.name else "",
        ": ",
        (entity.state, "cyan"),
        f"  LogiSense id: {entity.logisense_id or '-'}",
        f"  in scope: {'yes' if entity.in_scope else 'no'}",
    )
    if entity.waiting_for:
        say("  waiting: ", entity.waiting_for)
    if entity.last_error:
        say("  last error: ", entity.last_error)
    if entity.next_attempt_at and entity.attempts:
        say(f"  attempt {entity.attempts}, next at {shown_time(entity.next_attempt_at)}")
    console.print(table("snapshot", ["field", "value"], sorted(entity.snapshot.items())))
    if entity.written:
        _print_written(entity.written)
    console.print(
        table(
            "history",
            ["time", "from", "to", "trigger", "attempt", "reason"],
            [
                (shown_time(h.at), h.from_state, h.to_state, h.trigger, h.attempt, h.reason)
                for h in entity.history
            ],
        )
    )
    if entity.actions:
        console.print(
            table(
                "operator actions",
                ["time", "who", "action"],
                [(shown_time(a.at), a.actor, a.action) for a in entity.actions],
            )
        )


def _filter(
    states: list[str] | None,
    objects: list[str] | None,
    reason: str | None,
    since: str | None,
    sfids: list[str] | None = None,
) -> EntityFilter:
    from adapters.store.entity_listing import EntityFilter
    from statemachine.machine import STATES

    unknown = sorted(set(states or ()) - set(STATES))
    if unknown:
        fail(f"unknown state {', '.join(unknown)}; states are {', '.join(STATES)}", USAGE)
    return EntityFilter(
        states=tuple(states or ()),
        objects=tuple(objects or ()),
        reason=reason,
        since=parse_since(since),
        sfids=tuple(sfids or ()),
    )


def _row_json(row: EntityRow) -> dict[str, Any]:
    return {
        "object": row.object,
        "sfid": row.sfid,
        "name": row.name,
        "state": row.state,
        "attempts": row.attempts,
        "reason": none_if_empty(row.reason),
        "waiting_for": none_if_empty(row.waiting_for),
        "logisense_id": row.logisense_id,
        "updated_at": iso(row.updated_at),
    }


def _show_listing(ctx: typer.Context, where: EntityFilter, limit: int, as_json: bool) -> None:
    from workers.ops import admin

    listing = admin.entities(store_of(ctx), where, limit=limit)
    if as_json:
        emit_listing("entities", listing.total, [_row_json(r) for r in listing.rows])
        return
    kind = f"{where.states[0]} entities" if len(where.states) == 1 else "entities"
    title = listing_title(listing.total, len(listing.rows), kind)
    console.print(
        table(
            title,
            ["object", "salesforce id", "name", "state", "attempts", "changed (UTC)", "reason"],
            [
                (
                    r.object,
                    r.sfid,
                    r.name,
                    r.state,
                    r.attempts,
                    shown_time(r.updated_at),
                    r.reason or r.waiting_for,
                )
                for r in listing.rows
            ],
        )
    )


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""

    @app.command()
    @guarded
    def status(
        ctx: typer.Context,
        salesforce_id: Annotated[str, typer.Argument(help="Account, Contact or Opportunity id.")],
        as_json: JsonOption = False,
    ) -> None:
        """An entity's state, snapshot, LogiSense id, history and operator actions."""
        from billsync.sfid import canonical_or_none
        from workers.ops import admin

        sessions = store_of(ctx)
        salesforce_id = canonical_or_none(salesforce_id) or salesforce_id  # 15 or 18 chars
        found = admin.entity_status(sessions, salesforce_id)
        if not found:
            fail(f"no entity with Salesforce id {salesforce_id} has been seen", NOT_FOUND)
        if as_json:
            document = status_json(found[0])
            document["other_objects"] = [status_json(e) for e in found[1:]]
            emit_json(document)
            return
        for entity in found:
            _print_status(entity)

    @app.command()
    @guarded
    def entities(
        ctx: typer.Context,
        state: StateOption = None,
        object_: ObjectOption = None,
        reason: ReasonOption = None,
        since: SinceOption = None,
        limit: LimitOption = DEFAULT_LIMIT,
        as_json: JsonOption = False,
    ) -> None:
        """Entities by state, object, reason and time, newest change first, with the total."""
        _show_listing(ctx, _filter(state, object_, reason, since), limit, as_json)

    @app.command()
    @guarded
    def failed(
        ctx: typer.Context,
        object_: ObjectOption = None,
        reason: ReasonOption = None,
        since: SinceOption = None,
        limit: LimitOption = DEFAULT_LIMIT,
        as_json: JsonOption = False,
    ) -> None:
        """Entities in the failed state, with their reasons (``entities --state failed``)."""
        _show_listing(ctx, _filter(["failed"], object_, reason, since), limit, as_json)

    @app.command()
    @guarded
    def retry(
        ctx: typer.Context,
        salesforce_ids: Annotated[list[str] | None, typer.Argument(help="Ids to retry.")] = None,
        all_failed: Annotated[bool, typer.Option("--all", help="Every failed one.")] = False,
        object_: ObjectOption = None,
        reason: ReasonOption = None,
        since: SinceOption = None,
        dry_run: DryRunOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Move failed entities back to pending (a worker picks them up); recorded as yours."""
        from billsync.sfid import canonical_or_none
        from workers.ops import admin

        if not (salesforce_ids or all_failed or object_ or reason or since):
            fail(
                "name the ids to retry, or pass --all or a filter (--object, --reason, --since)",
                USAGE,
            )
        wanted = [canonical_or_none(i) or i for i in salesforce_ids or []] or None
        where = _filter(None, object_, reason, since, wanted)
        sessions = store_of(ctx)
        outcome = admin.retry(sessions, where, dry_run=dry_run)
        if as_json:
            emit_json(
                {"dry_run": dry_run, "retried": outcome.retried, "not_retried": outcome.refused}
            )
        else:
            verb = "would be moved" if dry_run else "moved"
            say(f"{len(outcome.retried)} entities {verb} from failed to pending")
            for sfid in outcome.retried if dry_run else ():
                say("  ", sfid)
        for sfid, state in outcome.refused.items():
            why = "has never been seen" if state is None else f"is {state}, not failed"
            console.print(line(f"{sfid} {why}"), soft_wrap=True)
        if outcome.refused:
            code = NOT_FOUND if None in outcome.refused.values() else FAILED
            fail(f"{len(outcome.refused)} of the ids could not be retried", code)
