"""Fixtures for the AI tests: an OpenAI-compatible server on loopback, settings that point the
app at it, and (for the weekly report) the report tests' real SMTP server."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin_analytics.config import Settings, load_settings
from tests.ai.openai_server import OpenAIServer
from tests.conftest import ADMIN_KEY

# The report tests' SMTP server (STARTTLS and AUTH, a throwaway CA the app trusts).
from tests.reports.conftest import ca, ca_file, smtp, trust_ca  # noqa: F401 (fixtures)

MODEL = "llama-3.1-8b-instruct"
TIMEOUT_S = 0.5  # the SDK's per-request timeout: a slow server is given up on quickly


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database private to the test, for tests about the backend
    alone (its answers and failures do not depend on the database)."""
    path = tmp_path / "analytics.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def ai_values(**ai: Any) -> dict[str, Any]:
    """These AI_* settings (keyword arguments of load_settings), and the others unset: every
    AI variable is given, so none comes from the environment of the test run."""
    values: dict[str, Any] = {
        "ai_backend": "auto",
        "openai_api_key": None,
        "ai_base_url": None,
        "ai_model": None,
        "ai_timeout_seconds": TIMEOUT_S,
    }
    return {**values, **ai}


def ai_settings(database_url: str, **ai: Any) -> Settings:
    """The app's settings with these AI_* (and other) values."""
    return load_settings(
        _env_file=None,
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        scheduler_enabled=False,
        **ai_values(**ai),
    )


def served_by(server: OpenAIServer, **ai: Any) -> dict[str, Any]:
    """AI_* settings (as keyword arguments of ai_settings) that reach `server`."""
    return {"ai_base_url": server.base_url, "ai_model": MODEL, **ai}
