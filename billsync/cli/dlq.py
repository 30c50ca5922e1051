"""``billsync dlq list|show|replay|purge``: the dead letters kept in the store."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated

import typer

from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from billsync.cli.common import NOT_FOUND, console, emit_json, fail, guarded, settings_of, table
from billsync.config import DEFAULT_AMQP_URL
from workers import deadletters

dlq_app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
SHOW_BYTES = 4096


def _when(at: float | None) -> str:
    return "" if at is None else dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dlq_app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    include_replayed: Annotated[bool, typer.Option("--all", help="Include replayed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Dead letters, newest first."""
    letters = deadletters.list_dead_letters(
        open_store(settings_of(ctx), pool_size=2), include_replayed=include_replayed, limit=1000
    )
    if as_json:
        emit_json([asdict(d) for d in letters])
        return
    console.print(
        table(
            f"{len(letters)} dead letters",
            ["id", "received", "bytes", "reason", "replayed"],
            [
                (d.id, _when(d.received_at), d.size, d.reason[:120], _when(d.replayed_at))
                for d in letters
            ],
        )
    )


@dlq_app.command()
@guarded
def show(
    ctx: typer.Context,
    letter_id: Annotated[int, typer.Argument(help="Dead letter id (from dlq list).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One dead letter: reason, headers and (the start of) its body."""
    letter = deadletters.get_dead_letter(open_store(settings_of(ctx), pool_size=2), letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id}", NOT_FOUND)
    body = letter.body[:SHOW_BYTES].decode(errors="replace")
    data = {
        "id": letter.id,
        "reason": letter.reason,
        "size": letter.size,
        "received_at": _when(letter.received_at),
        "replayed_at": _when(letter.replayed_at),
        "headers": letter.headers,
        "body": body,
        "truncated": letter.size > SHOW_BYTES,
    }
    if as_json:
        emit_json(data)
        return
    console.print(f"[bold]dead letter {letter.id}[/bold] ({letter.size:,} bytes)")
    console.print(f"reason: {letter.reason}", highlight=False)
    console.print(f"headers: {json.dumps(letter.headers, default=str)[:2000]}", highlight=False)
    console.print(body + (" ..." if data["truncated"] else ""), highlight=False, markup=False)


@dlq_app.command()
@guarded
def replay(
    ctx: typer.Context,
    letter_ids: Annotated[list[int] | None, typer.Argument(help="Ids to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every one.")] = False,
) -> None:
    """Publish dead letters back to the work queue (after fixing the cause)."""
    if not letter_ids and not replay_all:
        fail("name the dead letters to replay, or pass --all", 2)
    settings = settings_of(ctx)
    count = deadletters.replay(
        open_store(settings, pool_size=2),
        settings.broker_url_or(DEFAULT_AMQP_URL),
        Topology.from_settings(settings),
        None if replay_all else list(letter_ids or []),
    )
    console.print(f"{count} dead letters replayed")


@dlq_app.command()
@guarded
def purge(
    ctx: typer.Context,
    letter_ids: Annotated[list[int] | None, typer.Argument(help="Ids to purge.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete dead letters for good (all of them when no id is given)."""
    what = "every dead letter" if not letter_ids else f"{len(letter_ids)} dead letters"
    if not yes and not typer.confirm(f"Delete {what} for good?"):
        fail("nothing purged", 1)
    count = deadletters.purge(
        open_store(settings_of(ctx), pool_size=2), list(letter_ids) if letter_ids else None
    )
    console.print(f"{count} dead letters purged")


def register(app: typer.Typer) -> None:
    """Add the ``dlq`` group to ``app``."""
    app.add_typer(dlq_app, name="dlq")
