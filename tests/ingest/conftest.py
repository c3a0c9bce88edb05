"""The real-SDK tests' fixtures: a server, its database and write key per module; a day; a proxy."""

import itertools
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.access.helpers import make_key
from tests.conftest import migrate
from tests.ingest.sdk_proxy import RecordingProxy
from tests.pg import PostgresServer
from tests.servers import ServerProcess

_DAYS = itertools.count()


# --- the server, its database and its write key: one of each per database for the module ---


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sdk_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of each kind that only this module's server uses."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sdks") / "analytics.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg_server: PostgresServer = request.getfixturevalue("pg_server")
    url = pg_server.create_database("analytics_sdks")
    migrate(url)
    return url


@pytest.fixture(scope="module")
def write_key(sdk_database: str) -> str:
    """A write key made as `plugin-analytics keys create --kind write` makes it. It exists
    before the server starts, so ingestion needs a key from the first request on."""
    key: str = make_key(sdk_database, "write", "sdk tests").key
    return key


@pytest.fixture(scope="module")
def server(sdk_database: str, write_key: str) -> Iterator[ServerProcess]:
    with ServerProcess(
        sdk_database,
        WRITE_KEYS="",
        INGEST_RATE_LIMIT="",
        RETENTION_DAYS="",
        REDACT_PII="false",
    ) as running:
        yield running


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """Every SDK consumer and proxy thread a test starts is gone when it ends (each real-SDK
    test module uses it for all its tests)."""
    before = set(threading.enumerate())
    yield
    left = [thread.name for thread in threading.enumerate() if thread not in before]
    assert left == []


@pytest.fixture
def day() -> datetime:
    """Noon (UTC) of a day no other test sends events for."""
    return datetime(2025, 3, 1, 12, tzinfo=UTC) + timedelta(days=next(_DAYS))


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[RecordingProxy]:
    with RecordingProxy(server.port) as recording:
        yield recording
