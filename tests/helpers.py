"""Reading the database behind the app's back, to check what was really stored."""

from typing import Any, cast

from sqlalchemy import Engine, select, text

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.derived.rollups import hold_writers
from plugin_analytics.ingest.schemas import EventCreate


def stored_events(database_url: str) -> list[dict[str, Any]]:
    """Every stored event, in insertion order."""
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(event_table).order_by(event_table.c.id))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


EVENT_TABLES = ("event", "rollup", "rollup_delta", "user_key", "session_key", "user_profile")


def empty(engine: Engine) -> None:
    """Delete every event and all that is derived from it (for hypothesis examples that share
    one database). It waits for a compaction under way, as erasure does: on PostgreSQL the
    rollup rows a compactor has inserted but not committed yet would survive the deletes and
    count in the next example."""
    with write_transaction(engine) as connection:
        hold_writers(connection)
        for table in EVENT_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))


def of_default(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NDJSON export rows, each checked to be of the site `default`, without that field."""
    assert all(row.pop("site") == "default" for row in rows), rows
    return rows


def event(**fields: Any) -> dict[str, Any]:
    """A valid /client/update body, with `fields` overriding the defaults."""
    body: dict[str, Any] = {
        "user_id": "user-1",
        "session_id": "session-1",
        "message": "Do you ship to Norway?",
        "event_type": "message",
    }
    body.update(fields)
    return body


def created(**fields: Any) -> EventCreate:
    """`event(**fields)` typed as ingestion hands it to the writer (validated)."""
    return cast(EventCreate, event(**fields))


# What the feedback module the tests install (modules/feedback) adds to the summary of a range
# that holds no ratings.
NO_RATINGS: dict[str, Any] = {
    "plugins": {
        "feedback": {"ratings": 0, "thumbs_up": 0, "thumbs_down": 0, "satisfaction_rate": None}
    },
    "plugin_errors": {},
}

# The model usage of an event that is not an assistant's reply with usage, as exported.
NO_USAGE: dict[str, Any] = {
    "model": None,
    "input_tokens": None,
    "output_tokens": None,
    "latency_ms": None,
}
