"""Migration 0008 (sites) on a database that holds data: every event, key, profile, report and
write key goes to `default`, nothing is lost or counted twice, events from before rollups
existed are counted in, and afterwards an event_id is unique per site only."""

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from plugin_analytics.analytics.queries import activity_in
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.db.types import to_epoch_us
from tests.conftest import migrate
from tests.db.test_migrations import fresh_url, schema_differences

__all__ = ["fresh_url"]

AT = datetime(2026, 11, 30, 10, tzinfo=UTC)
EVENTS = [  # (event_id, user, session, type, role)
    ("e1", "ana", "s1", "message", "user"),
    ("e2", "ana", "s1", "message", "assistant"),
    ("e3", "ben", "s2", "cta_click", "user"),
    ("e4", "ben", "s2", "page", "user"),
]


def _at(engine: Engine) -> object:
    return to_epoch_us(AT) if engine.dialect.name == "sqlite" else AT


def _insert_events(engine: Engine) -> None:
    """As revision 0007 stored them, with the rows SQL would write (no app code)."""
    with engine.begin() as connection:
        for event_id, user, session, event_type, role in EVENTS:
            connection.execute(
                text(
                    "INSERT INTO event (event_id, user_id, session_id, event_type, role, "
                    "message, properties, occurred_at, received_at) VALUES "
                    "(:id, :user, :session, :type, :role, 'hi', :properties, :at, :at)"
                ),
                {
                    "id": event_id, "user": user, "session": session, "type": event_type,
                    "role": role, "at": _at(engine),
                    "properties": json.dumps({"$set": {"plan": "pro"}}) if user == "ana" else None,
                },
            )  # fmt: skip
        connection.execute(
            text(
                "INSERT INTO api_key (kind, name, prefix, digest, created_at) VALUES "
                "('write', 'w', 'pa_write_x', 'd1', :at), ('admin', 'a', 'pa_admin_x', 'd2', :at)"
            ),
            {"at": _at(engine)},
        )


def test_existing_data_goes_to_default(fresh_url: str) -> None:
    migrate(fresh_url, "0007")
    engine = build_engine(fresh_url)
    try:
        _insert_events(engine)
        migrate(fresh_url)
        assert schema_differences(fresh_url) == []
        with engine.connect() as connection:
            sites = connection.execute(text("SELECT num, id FROM site")).all()
            assert sites == [(DEFAULT_SITE_NUM, "default")]
            events = connection.execute(
                text("SELECT site_num, event_id FROM event ORDER BY id")
            ).all()
            assert events == [(DEFAULT_SITE_NUM, event[0]) for event in EVENTS]
            keys = connection.execute(text("SELECT kind, site_num FROM api_key ORDER BY id")).all()
            assert keys == [("write", DEFAULT_SITE_NUM), ("admin", None)]
            # Inserted behind the app's back at 0007: no rollups yet; the migration counts them.
            start = to_epoch_us(AT.replace(hour=0))
            activity = activity_in(connection, DEFAULT_SITE_NUM, start, start + 86_400_000_000)
            assert activity.counts() == (1, 1, 1)
            assert (len(activity.users), len(activity.sessions)) == (2, 2)
        with engine.begin() as connection:  # the same event_id on another site is another event
            connection.execute(
                text("INSERT INTO site (id, domains, created_at) VALUES ('shop', '[]', :at)"),
                {"at": _at(engine)},
            )
            connection.execute(
                text(
                    "INSERT INTO event (site_num, event_id, user_id, session_id, event_type, "
                    "role, message, occurred_at, received_at) SELECT num, 'e1', 'ana', 's1', "
                    "'message', 'user', 'hi', :at, :at FROM site WHERE id = 'shop'"
                ),
                {"at": _at(engine)},
            )
    finally:
        engine.dispose()
