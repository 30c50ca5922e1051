"""Engines and schema upgrades for the store: SQLite (the embedded default) and PostgreSQL.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` write transactions, so that several worker
threads queue for the write lock instead of failing with "database is locked". PostgreSQL URLs are
pointed at psycopg 3. The schema is only ever created or changed by Alembic (``migrate``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any, TypeAlias

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

#: The session factory workers hold: ``with sessions() as session`` (or ``sessions.begin()``).
#: Workers import ``Session`` and ``Sessions`` from here, never from SQLAlchemy.
Sessions: TypeAlias = sessionmaker[Session]

SQLITE_BUSY_TIMEOUT_S = 60
#: Without a connect timeout, a blackholed PostgreSQL (packets dropped, no reset) holds a
#: connection attempt for minutes; keepalives find a dead established connection in ~25 s.
DEFAULT_CONNECT_TIMEOUT_S = 10
POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    # Sent data unacknowledged this long (a blackholed server) breaks the connection.
    "tcp_user_timeout": 30_000,
}


def normalise_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str,
    *,
    pool_size: int = 16,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    statement_timeout_s: float = 0,
) -> Engine:
    """An engine for ``url``, tuned for many short transactions from worker threads.

    On PostgreSQL, connecting gives up after ``connect_timeout_s`` and a statement after
    ``statement_timeout_s`` (0: no limit), so that an unreachable store is an error the caller
    can wait out, not a thread hung for minutes.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _tune_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(connect_timeout_s)),
        **POSTGRES_KEEPALIVES,
    }
    if statement_timeout_s > 0:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=connect_timeout_s + 5,
        connect_args=connect_args,
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> Sessions:
    """Sessions that keep loaded values after commit (records outlive their transaction)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the packaged migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


#: PostgreSQL advisory lock key held while migrating, so that workers starting together migrate
#: one after the other.
MIGRATION_LOCK_KEY = 7_261_934


def migrate(url: str) -> None:
    """Bring the schema at ``url`` to the newest migration (safe to run every start, from any
    number of processes at once: PostgreSQL serialises them on an advisory lock, SQLite on its
    write lock)."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
