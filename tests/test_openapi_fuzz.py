"""Schema fuzzing: every operation of the OpenAPI, sent to the real server over HTTP, never
answers 5xx and always answers as documented (status code, content type, body, headers).

Schemathesis generates each operation's requests from the OpenAPI (valid ones, and invalid ones
that must be refused with a documented status), sends them to `uvicorn main:app` with the admin
key, and checks every answer against the same document. A failure prints a reproducing curl.
"""

import shutil
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from tests.conftest import ADMIN_KEY, migrate
from tests.pg import PostgresServer
from tests.servers import ServerProcess

# Per operation and database: both databases' runs together stay well within a minute.
MAX_EXAMPLES = 100

CONFIG = schemathesis.Config.from_dict(
    {
        # Every operation that declares the admin key gets it (a renamed scheme fails loudly);
        # schemathesis still sends a few requests without it, whose 401 must be documented too.
        "auth": {"openapi": {"HTTPBearer": {"bearer": ADMIN_KEY}}},
        "request-timeout": 30,
        # What the OpenAPI promises: no server error, and each answer as documented.
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
        # Test data only: show the exact request (session ids, the test key) in the curl.
        "output": {"sanitization": {"enabled": False}},
    }
)

# The app builds its OpenAPI without a database; the server must serve this same document
# (test_the_server_serves_the_fuzzed_schema). Loaded here, not from the server, so that pytest
# collects one test per operation.
schema = schemathesis.openapi.from_dict(
    create_app(
        load_settings(_env_file=None, database_url="sqlite://", admin_api_key=ADMIN_KEY)
    ).openapi(),
    config=CONFIG,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated, empty database of each kind, for this module alone."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "analytics.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg_server: PostgresServer = request.getfixturevalue("pg_server")
    url = pg_server.create_database("analytics_fuzz")
    migrate(url)
    return url


@pytest.fixture(scope="module")
def fuzzed_server(fuzzed_database: str) -> Iterator[ServerProcess]:
    """The real server: no background jobs, email not configured, ingestion open."""
    with ServerProcess(
        fuzzed_database,
        SCHEDULER_ENABLED="false",
        EMAIL_HOST="",
        REPORT_RECIPIENTS="",
        WRITE_KEYS="",
        INGEST_RATE_LIMIT="",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_the_server_serves_the_fuzzed_schema(
    fuzzed_server: ServerProcess, http: requests.Session
) -> None:
    served = http.get(f"{fuzzed_server.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema


@schema.parametrize()
# derandomize: the same requests on every run and in CI; no example database between runs.
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], fuzzed_server: ServerProcess, http: requests.Session
) -> None:
    case.call_and_validate(base_url=fuzzed_server.base_url, session=http)
