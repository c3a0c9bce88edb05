"""The operator CLI: init creates an admin key once; migrate builds the schema."""

from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy import inspect
from typer.testing import CliRunner

from plugin_analytics.cli import app
from plugin_analytics.db.engine import build_engine
from tests.conftest import OperatorEnv

runner = CliRunner()


def test_init_creates_a_key_once(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    first = runner.invoke(app, ["init", "--env-file", str(env_file)])
    assert first.exit_code == 0, first.output
    key = dotenv_values(env_file)["ADMIN_API_KEY"]
    assert key
    assert len(key) >= 32
    assert key in first.output
    assert env_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    second = runner.invoke(app, ["init", "--env-file", str(env_file)])
    assert second.exit_code == 0
    assert dotenv_values(env_file)["ADMIN_API_KEY"] == key
    assert key not in second.output


def test_init_keeps_other_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///./x.db\nADMIN_API_KEY=\n")
    assert runner.invoke(app, ["init", "--env-file", str(env_file)]).exit_code == 0
    values = dotenv_values(env_file)
    assert values["DATABASE_URL"] == "sqlite:///./x.db"
    assert values["ADMIN_API_KEY"]


def test_migrate_builds_the_schema(tmp_path: Path, operator_env: OperatorEnv) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    operator_env(DATABASE_URL=url)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    engine = build_engine(url)
    assert "event" in inspect(engine).get_table_names()
    engine.dispose()
