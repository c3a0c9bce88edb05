"""Statements on the database driver's own cursor, for those that run in every ingestion
transaction, where SQLAlchemy's per-statement overhead would cost throughput."""

from typing import Any

from sqlalchemy import Connection

from plugin_analytics.db.types import from_epoch_us, to_epoch_us

# Ids or periods per statement: well under SQLite's limit of bound parameters.
KEY_CHUNK = 500


class DriverSql:
    """The cursor of a connection's transaction, and how its database spells parameters, times."""

    def __init__(self, connection: Connection) -> None:
        self.cursor = connection.connection.cursor()  # inside the connection's transaction
        self.sqlite = connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def time(self, at_us: int) -> Any:
        """A time parameter: integer microseconds on SQLite, a datetime on PostgreSQL."""
        return at_us if self.sqlite else from_epoch_us(at_us)

    def epoch(self, value: Any) -> int:
        """A time read back, as microseconds since the epoch."""
        return value if self.sqlite else to_epoch_us(value)
