"""The audit log: what was done to the data or to access, and when, never the data itself."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from plugin_analytics.db.models import audit_table


def record(connection: Connection, action: str, rows: int, detail: dict[str, Any]) -> None:
    """Add an entry in the caller's transaction, so it commits (or not) with what it records."""
    connection.execute(
        insert(audit_table).values(at=datetime.now(UTC), action=action, rows=rows, detail=detail)
    )


def entries(connection: Connection, limit: int, offset: int) -> list[dict[str, Any]]:
    """A page of entries, newest first."""
    page = connection.execute(
        select(audit_table).order_by(audit_table.c.id.desc()).limit(limit).offset(offset)
    ).mappings()
    return [dict(row) for row in page]
