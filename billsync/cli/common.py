"""What every command shares: settings from the root callback, exit codes, output helpers.

Data is never markup: both consoles are built with markup, emoji and highlighting off, so a value
such as ``Evil [/bold] Corp`` prints as it is; styles are given as ``rich.text.Text`` styles, never
as ``[bold]`` tags. ``printable`` makes a value safe for a terminal first: control characters,
bidirectional overrides and lone surrogates are shown as ``\\u....`` escapes instead of moving the
cursor, reversing the line or crashing the encoder.
"""

from __future__ import annotations

import functools
import json
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from adapters.store.db import Sessions
    from billsync.config import Settings

#: Exit codes (docs/operations.md).
OK = 0
FAILED = 1
USAGE = 2
UNAVAILABLE = 3
NOT_FOUND = 4

#: Invisible formatting characters that reorder or hide text (Trojan Source): shown escaped.
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _console(stderr: bool) -> Console:
    """A console on the current stdout or stderr (built per use: tests swap the streams and
    ``COLUMNS``, and building one costs microseconds)."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


class _LazyConsole:
    """The rich console, built on first use (importing rich costs time ``--help`` has not got)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def real(self) -> Console:
        """The console itself, for rich objects that take one (a progress bar)."""
        return _console(self._stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(_console(self._stderr), name)


console: Any = _LazyConsole(stderr=False)
errors: Any = _LazyConsole(stderr=True)


def printable(value: Any) -> str:
    """``value`` as text a terminal shows as it is (see the module docstring)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if text.isprintable() and text.isascii():
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in "\n\t" or (
            char.isprintable()
            and char not in _BIDI
            and unicodedata.category(char) not in ("Cs", "Co", "Cn")
        ):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def text(value: Any, style: str = "") -> Text:
    """A value as a styled ``Text`` that is never parsed as markup."""
    from rich.text import Text

    return Text(printable(value), style=style)


def line(*parts: Any) -> Text:
    """A line of ``Text`` from parts: plain values, or ``(value, style)`` pairs."""
    from rich.text import Text

    result = Text()
    for part in parts:
        if isinstance(part, tuple):
            result.append(printable(part[0]), style=part[1])
        else:
            result.append(printable(part))
    return result


def say(*parts: Any) -> None:
    """Print one line (see ``line``) on stdout."""
    console.print(line(*parts), soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback read."""
    from billsync.config import Settings

    root = ctx.find_root()
    settings = root.obj
    assert isinstance(settings, Settings)
    return settings


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print ``message`` on one line to stderr and exit with ``code``."""
    one_line = " ".join(printable(message).split())
    errors.print(line(("error:", "red"), " ", one_line), soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn every error into one line and the documented exit code: no traceback reaches an
    operator. billsync's own errors carry their meaning; a connection the adapters did not
    translate is still "unavailable"; anything else is a defect, reported on one line (run with
    ``BILLSYNC_LOG_LEVEL=DEBUG`` for the traceback)."""
    from billsync.errors import BillsyncError, ConfigError, PermanentError, TransientError

    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
        raise
    except ConfigError as exc:
        fail(str(exc), USAGE)
    except TransientError as exc:
        fail(f"{exc} (try again; is the service up?)", UNAVAILABLE)
    except (PermanentError, BillsyncError) as exc:
        fail(str(exc), FAILED)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        fail(f"{_described(exc)} (check the file the settings name)", USAGE)
    except (ConnectionError, TimeoutError, OSError) as exc:
        fail(f"{_described(exc)} (is the service up?)", UNAVAILABLE)
    except Exception as exc:
        import logging

        logging.getLogger("billsync.cli").debug("unexpected error", exc_info=True)
        fail(f"unexpected {_described(exc)}", FAILED)


def _described(exc: BaseException) -> str:
    from billsync.logs import describe

    return describe(exc)


def store_of(ctx: typer.Context) -> Sessions:
    """The store the settings name, opened for one command (a small pool, no schema change)."""
    from billsync.bootstrap import open_store

    return open_store(settings_of(ctx), pool_size=2, create=False)


def emit_json(data: Any) -> None:
    """Machine-readable output on stdout: one JSON document (see docs/operations.md)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def emit_listing(key: str, total: int, items: Sequence[Any]) -> None:
    """A listing as JSON: how many match, how many are shown, and those (under ``key``)."""
    emit_json({"total": total, "shown": len(items), key: list(items)})


def listing_title(total: int, shown: int, noun: str) -> str:
    """``<total> <noun>``, saying how many are shown when ``--limit`` cut the list."""
    more = f" (newest {shown} shown; --limit for more)" if total > shown else ""
    return f"{total} {noun}{more}"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table with ``columns`` and ``rows``; every cell is ``printable`` text."""
    from rich.table import Table

    result = Table(title=text(title), title_justify="left")
    for column in columns:
        result.add_column(printable(column))
    for row in rows:
        result.add_row(*(text(v) for v in row))
    return result


def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator form of ``translated_errors`` for command functions."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated_errors():
            return function(*args, **kwargs)

    return wrapper
