"""What every command shares: settings from the root callback, exit codes, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from billsync.config import Settings
from billsync.errors import BillsyncError, ConfigError, PermanentError, TransientError

#: Exit codes (docs/operations.md).
OK = 0
FAILED = 1
USAGE = 2
UNAVAILABLE = 3
NOT_FOUND = 4

console = Console()
errors = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback read."""
    root = ctx.find_root()
    settings = root.obj
    assert isinstance(settings, Settings)
    return settings


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn billsync errors into a message and the documented exit code."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), USAGE)
    except TransientError as exc:
        fail(f"{exc} (try again; is the service up?)", UNAVAILABLE)
    except PermanentError as exc:
        fail(str(exc), FAILED)
    except BillsyncError as exc:
        fail(str(exc), FAILED)


def emit_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table with ``columns`` and ``rows``."""
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*("" if v is None else str(v) for v in row))
    return result


def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator form of ``translated_errors`` for command functions."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated_errors():
            return function(*args, **kwargs)

    return wrapper
