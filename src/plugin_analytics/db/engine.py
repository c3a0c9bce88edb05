"""Engines: SQLite tuned for durable concurrent writes, PostgreSQL through psycopg 3."""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5


def build_engine(url: str, *, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for `url` (already normalised to a SQLAlchemy driver URL)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, sqlite_busy_timeout_ms)
    return create_engine(
        url,
        hide_parameters=True,  # errors must not copy users' messages into the logs
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=8,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        pool_pre_ping=True,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we acknowledge it, even after a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache keeps the event indexes' hot pages in memory while ingesting.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers ask for IMMEDIATE so they queue on the write lock instead of failing to upgrade.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"
