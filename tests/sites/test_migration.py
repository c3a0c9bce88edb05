"""`default` as migration 0008 made it: readable (its time stored as the column keeps times),
number 1, and the next site made gets another number on both databases."""

import shutil
from pathlib import Path

from plugin_analytics.config import load_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE
from plugin_analytics.sites.registry import find_site


def test_default_as_migrated_is_readable_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "analytics.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            site = find_site(
                connection, DEFAULT_SITE, load_settings(_env_file=None, database_url=url)
            )
    finally:
        engine.dispose()
    assert site is not None
    assert site.num == 1
