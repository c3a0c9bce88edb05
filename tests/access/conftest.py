"""A SQLite database of its own, for the tests that run the real server; sites made by a test."""

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.access.helpers import drop_sites, make_site

MakeSite = Callable[..., int]


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database private to the test."""
    path = tmp_path / "analytics.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sites(database_url: str) -> Iterator[MakeSite]:
    """`sites(id, domains=[...])` makes a site in the test's database (its number); every site
    but `default` is deleted afterwards, since the suite's PostgreSQL database is shared."""

    def made(site_id: str, domains: Sequence[str] = ()) -> int:
        return make_site(database_url, site_id, domains)

    drop_sites(database_url)
    yield made
    drop_sites(database_url)
