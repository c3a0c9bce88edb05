"""What the commands of `plugin-analytics` share: the console, the settings (or a clear exit),
Alembic's configuration, and an engine on the configured, migrated database. Apart from cli.py
so that a domain's own commands (access/cli.py) can use them without importing cli.py."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from plugin_analytics.config import Settings, SettingsError, get_settings
from plugin_analytics.db.engine import build_engine

console = Console()

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with what is wrong with them."""
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's configuration for this project, optionally aimed at `database_url`."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url)
    return config


@contextmanager
def database() -> Iterator[Engine]:
    """An engine on the configured, migrated database, for one command."""
    settings = settings_or_exit()
    engine = build_engine(settings.sqlalchemy_url)
    try:
        _require_migrated(engine)
        yield engine
    finally:
        engine.dispose()


def _require_migrated(engine: Engine) -> None:
    """Exit with a clear message unless the database's schema is at the latest migration."""
    latest = ", ".join(ScriptDirectory.from_config(alembic_config()).get_heads())
    where = engine.url.render_as_string(hide_password=True)
    try:
        current = ", ".join(_current_revisions(engine)) or "no revision"
    except SQLAlchemyError as exc:
        console.print(f"[red]Cannot reach the database at {where}: {exc}[/red]")
        raise typer.Exit(2) from None
    if current != latest:
        console.print(
            f"[red]The database at {where} is not migrated (it is at {current}; the latest is "
            f"{latest}). Run `plugin-analytics migrate` first.[/red]"
        )
        raise typer.Exit(2)


def _current_revisions(engine: Engine) -> list[str]:
    sqlite_file = engine.url.database if engine.dialect.name == "sqlite" else None
    if sqlite_file and sqlite_file != ":memory:" and not Path(sqlite_file).exists():
        return []  # connecting would create an empty file
    with engine.connect() as connection:
        return sorted(MigrationContext.configure(connection).get_current_heads())
