"""A SQLite database of its own, for the tests that run the real server."""

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database private to the test."""
    path = tmp_path / "analytics.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"
