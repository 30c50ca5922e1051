"""Reaching the store: its URL as it may be shown, whether it exists, and the one error an
operator sees when it cannot be reached (``TransientError`` naming the redacted URL and the root
cause, never SQLAlchemy's traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from billsync.errors import ConfigError, TransientError


class StoreMissing(TransientError):
    """The SQLite file the URL names does not exist (a read-only command does not create it)."""


def shown_url(url: str) -> str:
    """``url`` with its password hidden, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparsable database URL>"


def require_existing(url: str) -> None:
    """Raise when ``url`` names a SQLite file that does not exist: a read-only command must not
    create a new, empty store and report "nothing found" from it."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError("BILLSYNC_DATABASE_URL is not a database URL") from None
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).is_file():
        raise StoreMissing(
            f"the store {shown_url(url)} does not exist (no file {database}); "
            "check BILLSYNC_DATABASE_URL"
        )


def sqlite_file(url: str) -> str | None:
    """The file a SQLite ``url`` names (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def has_schema(engine: Engine) -> bool:
    """Whether the store's tables exist (it was migrated once)."""
    return inspect(engine).has_table("sync_record")


def ping(session: Session) -> None:
    """One round trip to the store (``SELECT 1``); raises when it cannot be reached."""
    session.execute(text("SELECT 1"))


def root_cause(error: BaseException) -> str:
    """The driver's own message (first line), without SQL, parameters or links."""
    origin = getattr(error, "orig", None) or error
    text = str(origin).strip().splitlines()
    return f"{type(origin).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Translate the driver's connection errors into ``TransientError`` and a bad URL into
    ``ConfigError``, both naming the redacted URL."""
    try:
        yield
    except sa_exc.ArgumentError as error:
        raise ConfigError(f"BILLSYNC_DATABASE_URL {shown_url(url)}: {error}") from None
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        raise TransientError(
            f"cannot reach the store at {shown_url(url)}: {root_cause(error)}"
        ) from None
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"BILLSYNC_DATABASE_URL {shown_url(url)} needs a driver that is not installed "
            f"({error.name})"
        ) from None
