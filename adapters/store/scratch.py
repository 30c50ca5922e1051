"""Scratch databases for benchmarks and fault runs: created on a PostgreSQL server, dropped after
(``DROP DATABASE ... WITH (FORCE)``), or a file in a temporary folder for SQLite."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from adapters.store.db import normalise_url


@contextmanager
def scratch_database(server_url: str, *, prefix: str = "billsync_bench") -> Iterator[str]:
    """The URL of a new empty database, removed on exit. For PostgreSQL a database named
    ``<prefix>_<random>`` is created through the given URL's database; for SQLite a file in a
    temporary directory."""
    if server_url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="billsync-bench-")
        try:
            yield f"sqlite:///{folder}/store.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        normalise_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(normalise_url(server_url)).set(database=name)
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
