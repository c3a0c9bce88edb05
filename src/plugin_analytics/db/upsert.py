"""INSERT ... ON CONFLICT, which SQLAlchemy builds per dialect: the one place that chooses."""

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_or_skip(connection: Connection, table: Table) -> Any:
    """An INSERT into `table` for `connection`'s database that can take `on_conflict_do_nothing`
    (both dialects spell it the same way)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
