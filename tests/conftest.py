"""Fixtures: every storage test runs on SQLite and on a real PostgreSQL server."""

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import hypothesis
import psycopg
import pytest
from alembic import command
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Engine

from plugin_analytics.app import create_app
from plugin_analytics.cli import alembic_config
from plugin_analytics.config import Settings, get_settings, load_settings
from plugin_analytics.db.engine import build_engine
from tests.pg import PostgresServer

# Hypothesis's per-example deadline and its too-slow health check measure the machine, not the
# code: on a loaded machine they fail tests whose assertions hold.
hypothesis.settings.register_profile(
    "suite", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("suite")

ADMIN_KEY = "test-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def migrate(url: str, revision: str = "head") -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer) -> str:
    url = pg_server.create_database("analytics_test")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "analytics.db"
    migrate(f"sqlite:///{path}")
    return path


def _empty_postgres(url: str) -> str:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE event, rollup, rollup_delta, user_key, session_key, report, report_attempt, "
            "api_key, audit_log, user_profile RESTART IDENTITY"
        )
        # Only `default`, as the migration made it.
        conn.execute("DELETE FROM site WHERE id <> 'default'")
        conn.execute(
            "UPDATE site SET name = NULL, timezone = NULL, domains = '[]', "
            "report_recipients = NULL, report_schedule = NULL, retention_days = NULL"
        )
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind, private to the test."""
    if request.param == "sqlite":
        path = tmp_path / "analytics.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return _empty_postgres(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(_env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database, for reading and arranging rows directly."""
    engine = build_engine(database_url)
    yield engine
    engine.dispose()


# On a loaded machine, folding a big backfill's rollups at shutdown can take longer than
# asgi_lifespan's default of 5 s, which then abandons the shutdown with the app's engines still
# open. A bound no working machine reaches still fails a hung startup or shutdown.
LIFESPAN_TIMEOUT_S = 600


def started(app: FastAPI) -> LifespanManager:
    """The app's startup and shutdown, however long a loaded machine takes for them."""
    return LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT_S, shutdown_timeout=LIFESPAN_TIMEOUT_S
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with started(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as http:
        yield http


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP straight into a running app (no socket)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own for `settings`, started, and a client of it."""
    application = create_app(settings)
    async with started(application), client_of(application) as http:
        yield http


OperatorEnv = Callable[..., None]


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[OperatorEnv]:
    """The environment of an operator's shell for CLI commands: `operator_env(NAME=value, ...)`
    sets variables, and the next command reads its settings afresh (get_settings caches)."""

    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_variables
    get_settings.cache_clear()
