"""``billsync dlq list|show|replay|purge``: the dead letters kept in the store.

``replay`` and ``purge`` take the same filters as ``list`` and ``--dry-run``; each is recorded
with who ran it. A dead letter named by id that does not exist is "not found" (exit 4) for every
sub-command alike.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from billsync.cli.common import (
    NOT_FOUND,
    USAGE,
    console,
    emit_json,
    emit_listing,
    fail,
    guarded,
    listing_title,
    say,
    settings_of,
    store_of,
    table,
)
from billsync.cli.filters import (
    DryRunOption,
    JsonOption,
    LimitOption,
    ReasonOption,
    SinceOption,
    iso,
    parse_since,
    shown_time,
)

if TYPE_CHECKING:
    from adapters.store.dead_letter_listing import LetterFilter
    from workers.ops.deadletters import DeadLetterView, LetterAction

dlq_app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
SHOW_BYTES = 4096
DEFAULT_LIMIT = 100

IdsArgument = Annotated[list[int] | None, typer.Argument(help="Dead letter ids (dlq list).")]


def _filter(
    ids: list[int] | None, reason: str | None, since: str | None, include_replayed: bool
) -> LetterFilter:
    from adapters.store.dead_letter_listing import LetterFilter

    moment = parse_since(since)
    return LetterFilter(
        ids=tuple(ids or ()),
        reason=reason,
        since=None if moment is None else moment.timestamp(),
        include_replayed=include_replayed,
    )


def _letter_json(d: DeadLetterView) -> dict[str, Any]:
    return {
        "id": d.id,
        "reason": d.reason,
        "size": d.size,
        "received_at": iso(d.received_at),
        "replayed_at": iso(d.replayed_at),
        "message_id": d.message_id,
        "source_queue": d.source_queue,
    }


@dlq_app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    include_replayed: Annotated[bool, typer.Option("--all", help="Include replayed.")] = False,
    reason: ReasonOption = None,
    since: SinceOption = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """Dead letters, newest first, with the total."""
    from workers.ops import deadletters

    where = _filter(None, reason, since, include_replayed)
    listing = deadletters.find_dead_letters(store_of(ctx), where, limit=limit)
    if as_json:
        emit_listing("dead_letters", listing.total, [_letter_json(d) for d in listing.letters])
        return
    title = listing_title(listing.total, len(listing.letters), "dead letters")
    console.print(
        table(
            title,
            ["id", "received (UTC)", "bytes", "reason", "replayed"],
            [
                (d.id, shown_time(d.received_at), d.size, d.reason[:200], shown_time(d.replayed_at))
                for d in listing.letters
            ],
        )
    )


@dlq_app.command()
@guarded
def show(
    ctx: typer.Context,
    letter_id: Annotated[int, typer.Argument(help="Dead letter id (from dlq list).")],
    as_json: JsonOption = False,
) -> None:
    """One dead letter: reason, headers and (the start of) its body."""
    from workers.ops import deadletters

    letter = deadletters.get_dead_letter(store_of(ctx), letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id}", NOT_FOUND)
    body = letter.body[:SHOW_BYTES].decode(errors="replace")
    data = {
        "id": letter.id,
        "reason": letter.reason,
        "size": letter.size,
        "received_at": iso(letter.received_at),
        "replayed_at": iso(letter.replayed_at),
        "message_id": letter.message_id,
        "source_queue": letter.source_queue,
        "headers": letter.headers,
        "body": body,
        "truncated": letter.size > SHOW_BYTES,
    }
    if as_json:
        emit_json(data)
        return
    say((f"dead letter {letter.id}", "bold"), f" ({letter.size:,} bytes)")
    say("reason: ", letter.reason)
    say("received: ", shown_time(letter.received_at))
    say("headers: ", json.dumps(letter.headers, default=str)[:2000])
    say(body + (" ..." if data["truncated"] else ""))


def _report(action: LetterAction, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json({"dry_run": action.dry_run, verb: action.ids})
        return
    if action.dry_run:
        say(f"{len(action.ids)} dead letters would be {verb}: ", " ".join(map(str, action.ids)))
    else:
        say(f"{len(action.ids)} dead letters {verb}")


def _choose(
    letter_ids: list[int] | None, every: bool, reason: str | None, since: str | None, verb: str
) -> None:
    if not (letter_ids or every or reason or since):
        fail(
            f"name the dead letters to {verb}, or pass --all or a filter (--reason, --since)", USAGE
        )


@dlq_app.command()
@guarded
def replay(
    ctx: typer.Context,
    letter_ids: IdsArgument = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every one not replayed.")] = False,
    reason: ReasonOption = None,
    since: SinceOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Publish dead letters back to the work queue (after fixing the cause)."""
    from billsync import clients
    from billsync.config import DEFAULT_AMQP_URL
    from workers.ops import admin, deadletters

    _choose(letter_ids, replay_all, reason, since, "replay")
    settings = settings_of(ctx)
    try:
        action = deadletters.replay_chosen(
            store_of(ctx),
            settings.broker_url_or(DEFAULT_AMQP_URL),
            clients.topology(settings),
            _filter(letter_ids, reason, since, False),
            dry_run=dry_run,
            actor=admin.operator_identity(),
        )
    except deadletters.UnknownLetters as exc:
        fail(str(exc), NOT_FOUND)
    _report(action, "replayed", as_json)


@dlq_app.command()
@guarded
def purge(
    ctx: typer.Context,
    letter_ids: IdsArgument = None,
    purge_all: Annotated[bool, typer.Option("--all", help="Every dead letter.")] = False,
    reason: ReasonOption = None,
    since: SinceOption = None,
    dry_run: DryRunOption = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete dead letters for good (asks first unless --yes or --dry-run)."""
    from workers.ops import admin, deadletters

    if not (letter_ids or reason or since):
        purge_all = True
    _choose(letter_ids, purge_all, reason, since, "purge")
    sessions = store_of(ctx)
    where = _filter(letter_ids, reason, since, True)
    try:
        chosen = deadletters.purge_chosen(sessions, where, dry_run=True)
        if dry_run:
            _report(chosen, "purged", as_json)
            return
        if not yes and not typer.confirm(f"Delete {len(chosen.ids)} dead letters for good?"):
            fail("nothing purged", 1)
        action = deadletters.purge_chosen(sessions, where, actor=admin.operator_identity())
    except deadletters.UnknownLetters as exc:
        fail(str(exc), NOT_FOUND)
    _report(action, "purged", as_json)


def register(app: typer.Typer) -> None:
    """Add the ``dlq`` group to ``app``."""
    app.add_typer(dlq_app, name="dlq")
