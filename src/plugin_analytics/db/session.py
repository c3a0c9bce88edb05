"""Transactions: a request session's snapshot for reports, and `write_transaction`, the one way
a transaction for writing is opened. The request-scoped session is dependencies.SessionDep."""

from contextlib import AbstractContextManager

from sqlalchemy import Connection, Engine
from sqlmodel import Session


def snapshot_options(dialect_name: str) -> dict[str, str]:
    """Execution options that give every query of a report one consistent view: PostgreSQL
    needs repeatable read; a SQLite transaction is a snapshot already."""
    return {"isolation_level": "REPEATABLE READ"} if dialect_name == "postgresql" else {}


def snapshot(session: Session) -> Connection:
    """A request session's connection with snapshot_options."""
    return session.connection(execution_options=snapshot_options(session.get_bind().dialect.name))


def write_transaction(engine: Engine) -> AbstractContextManager[Connection]:
    """A transaction for writing, committed when the block ends and rolled back if it raises.
    SQLite: it takes the write lock at BEGIN, as ingestion does, so two writers queue on the
    lock instead of one failing to upgrade a read lock mid-transaction."""
    return engine.execution_options(sqlite_begin="IMMEDIATE").begin()
