"""The sites tests' database: as the suite's, with the sites of earlier tests gone."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, update

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM, site_table


def reset_sites(database_url: str) -> None:
    """Only `default`, with nothing of its own set, as the migration made it, but for its
    created_at: on SQLite the migration stores it as text where the column holds microseconds,
    and reading `default` fails (test_migration.py shows it; the migration is to be fixed)."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(delete(site_table).where(site_table.c.num != DEFAULT_SITE_NUM))
            connection.execute(
                update(site_table).values(
                    name=None,
                    timezone=None,
                    domains=[],
                    report_recipients=None,
                    report_schedule=None,
                    retention_days=None,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        engine.dispose()


@pytest.fixture
def database_url(database_url: str) -> Iterator[str]:
    """The suite's PostgreSQL database lasts the session and its emptying (tests/conftest.py)
    leaves the site table alone: reset it before and after each test, for the tests here and
    for those that follow."""
    reset_sites(database_url)
    yield database_url
    reset_sites(database_url)
