"""Alembic builds exactly the models' schema on both databases, and downgrades cleanly."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from plugin_analytics.cli import alembic_config
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import metadata
from tests.conftest import migrate
from tests.pg import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        yield server.create_database("migrations_test")


def schema_differences(url: str) -> list[object]:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_models_schema(fresh_url: str) -> None:
    migrate(fresh_url)
    assert table_names(fresh_url) == {"alembic_version", *metadata.tables}
    assert schema_differences(fresh_url) == []


def test_downgrade_to_base_and_back(fresh_url: str) -> None:
    migrate(fresh_url)
    config = alembic_config(fresh_url)
    config.attributes["configure_logger"] = False
    command.downgrade(config, "base")
    assert table_names(fresh_url) == {"alembic_version"}
    migrate(fresh_url)
    assert schema_differences(fresh_url) == []


def test_an_empty_database_differs_from_the_models(fresh_url: str) -> None:
    # Guards the check above: a schema missing every table must be reported.
    assert schema_differences(fresh_url) != []
