"""Doctor check of the store: reachable, and its schema at the newest migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.broker.urls import redact
from adapters.store.connect import sqlite_file
from adapters.store.db import alembic_config, make_engine
from billsync.config import Settings
from billsync.doctor.report import CheckResult, fail, ok

MIGRATE_FIX = (
    "check BILLSYNC_DATABASE_URL, then start one billsync worker: workers migrate the store at "
    "start (several at once are safe)"
)


def checks(settings: Settings) -> Iterator[CheckResult]:
    """Connect and compare the store's revision with the newest migration."""
    url = settings.database_url
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    missing = _missing_sqlite_file(url)
    if missing:  # opening it would create an empty file: say so instead
        yield fail("store.migrations", f"no store file at {missing}", MIGRATE_FIX)
        return
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        yield fail(
            "store.migrations",
            f"cannot open the store at {redact(url)}: {type(exc).__name__}",
            "check BILLSYNC_DATABASE_URL and that the database server is up",
        )
        return
    finally:
        engine.dispose()
    if current != heads:
        found = ", ".join(sorted(current)) or "no schema"
        yield fail(
            "store.migrations",
            f"store at {found}, newest migration {', '.join(sorted(heads))}",
            MIGRATE_FIX,
        )
        return
    yield ok("store.migrations", f"{redact(url)} at migration {', '.join(sorted(heads))}")


def _missing_sqlite_file(url: str) -> str | None:
    database = sqlite_file(url)
    return None if database is None or Path(database).exists() else database
