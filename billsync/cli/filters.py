"""The filters every bulk command takes (``entities``, ``failed``, ``retry``, ``dlq list``,
``dlq replay``, ``dlq purge``), spelt the same way everywhere, and the one time format of every
JSON document (ISO 8601 in UTC, ``null`` for none)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import typer

StateOption = Annotated[
    list[str] | None,
    typer.Option("--state", help="Only entities in this state (repeatable)."),
]
ObjectOption = Annotated[
    list[str] | None,
    typer.Option("--object", help="Only this object: Account, Contact, Opportunity (repeatable)."),
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Only those whose reason contains this text.")
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only those changed since: an ISO time (UTC if no zone) or 30m, 2h, 7d."
    ),
]
LimitOption = Annotated[
    int, typer.Option("--limit", min=1, help="Show at most this many (the total is still given).")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """``--since`` as an aware UTC time; a bad value is a usage error (exit 2) naming it."""
    if value is None:
        return None
    now = now or dt.datetime.now(dt.UTC)
    relative = _RELATIVE.match(value)
    if relative:
        return now - dt.timedelta(seconds=float(relative[1]) * _UNITS[relative[2]])
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO time (2026-12-01T08:00Z) nor a duration (30m, 2h, 7d)",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def iso(moment: float | dt.datetime | None) -> str | None:
    """An epoch or a datetime as ISO 8601 in UTC with milliseconds and ``Z``; None stays None."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        value = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    else:
        value = dt.datetime.fromtimestamp(float(moment), dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shown_time(moment: float | dt.datetime | None) -> str:
    """The same time for a table: ISO without the ``T``, or empty."""
    text = iso(moment)
    return "" if text is None else text.replace("T", " ")


def none_if_empty(value: Any) -> Any:
    """``""`` and empty containers become ``None`` in JSON (one way to say "none")."""
    return None if value in ("", [], {}) else value
