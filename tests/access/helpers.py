"""Keys and sites made and revoked behind the app's back, and every stored row as text, to
search."""

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, inspect, select, text, update

from plugin_analytics.access.keys import Kind, NewKey, create_key, revoke_key
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM, api_key_table, audit_table, site_table


def make_key(database_url: str, kind: Kind, name: str = "test", site: str | None = None) -> NewKey:
    """A key made as `plugin-analytics keys create` makes it."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            return create_key(connection, kind, name, site=site)
    finally:
        engine.dispose()


def make_site(database_url: str, site_id: str, domains: Sequence[str] = ()) -> int:
    """A site with these domains and defaults for the rest; its number."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            values = {"id": site_id, "domains": list(domains), "created_at": datetime.now(UTC)}
            made = insert(site_table).values(**values).returning(site_table.c.num)
            return int(connection.execute(made).scalar_one())
    finally:
        engine.dispose()


def set_domains(database_url: str, site_id: str, domains: Sequence[str]) -> None:
    """Change a site's domains, as editing it through the sites API would."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(site_table).where(site_table.c.id == site_id).values(domains=list(domains))
            )
    finally:
        engine.dispose()


def drop_sites(database_url: str) -> None:
    """Delete every site but `default` (the suite empties PostgreSQL's other tables only)."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(delete(site_table).where(site_table.c.num != DEFAULT_SITE_NUM))
    finally:
        engine.dispose()


def revoke(database_url: str, id_or_key: str) -> None:
    """Revoke a key as `plugin-analytics keys revoke` does."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            assert revoke_key(connection, id_or_key) is not None
    finally:
        engine.dispose()


def database_dump(database_url: str) -> str:
    """Every row of every table, as one text to search."""
    engine = build_engine(database_url)
    quote = engine.dialect.identifier_preparer.quote
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            assert {"api_key", "audit_log", "event"} <= set(tables)
            return "\n".join(
                f"{table}: {tuple(row)!r}"
                for table in tables
                for row in connection.execute(text(f"SELECT * FROM {quote(table)}"))
            )
    finally:
        engine.dispose()


def key_rows(database_url: str) -> list[dict[str, Any]]:
    """Every row of the api_key table, oldest first."""
    return _rows(database_url, select(api_key_table).order_by(api_key_table.c.id))


def audit_entries(database_url: str) -> list[dict[str, Any]]:
    """Every audit log entry, oldest first."""
    return _rows(database_url, select(audit_table).order_by(audit_table.c.id))


def _rows(database_url: str, query: Any) -> list[dict[str, Any]]:
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


def away_from_window_edge(window_seconds: int = 60, margin: float = 2.0) -> None:
    """Wait for the next window if this one ends within `margin` seconds.

    The limiter counts in windows aligned on the clock and weighs the previous window's count
    down as it slides out, so a burst straddling a boundary is partly forgiven; a test's burst
    must fit in one window for "the 4th request is refused" to hold.
    """
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        time.sleep(left + 0.05)
