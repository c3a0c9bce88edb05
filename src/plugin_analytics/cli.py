"""`plugin-analytics`: the operator's command line."""

import secrets
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from dotenv import dotenv_values, set_key
from rich.console import Console

from plugin_analytics.config import Settings, SettingsError, get_settings

app = typer.Typer(help="Operate a plugin-analytics server.", no_args_is_help=True)
console = Console()

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _settings_or_exit() -> Settings:
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


@app.command()
def init(
    env_file: Annotated[Path, typer.Option(help="Where to keep settings.")] = Path(".env"),
) -> None:
    """Create .env with a random ADMIN_API_KEY if it has none, and say how to use it."""
    if dotenv_values(env_file).get("ADMIN_API_KEY"):
        console.print(f"Admin key: ADMIN_API_KEY in {env_file}.")
        return
    env_file.touch(mode=0o600, exist_ok=True)
    key = secrets.token_urlsafe(32)
    set_key(env_file, "ADMIN_API_KEY", key, quote_mode="never")
    console.print(f"Created an admin key in {env_file}: [bold]{key}[/bold]")
    console.print("Read endpoints need the header  Authorization: Bearer <that key>")


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (alembic upgrade) to DATABASE_URL."""
    _settings_or_exit()
    command.upgrade(alembic_config(), revision)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: PORT or 8000.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API with uvicorn."""
    settings = _settings_or_exit()
    host, port = host or settings.host, port or settings.port
    console.print(f"Serving on http://{host}:{port}  (interactive docs: http://{host}:{port}/docs)")
    if settings.admin_api_key is None:
        console.print(
            "[yellow]ADMIN_API_KEY is not set: read endpoints refuse every request. "
            "Run `plugin-analytics init` to create one.[/yellow]"
        )
    else:
        console.print("Read endpoints: Authorization: Bearer <ADMIN_API_KEY from .env>")
    uvicorn.run(
        "plugin_analytics.app:create_app", factory=True, host=host, port=port, workers=workers
    )
