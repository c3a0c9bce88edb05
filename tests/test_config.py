"""Settings: contract defaults, comma lists, URL normalisation, and bad values named."""

import subprocess
import sys
from pathlib import Path

import pytest

from plugin_analytics.config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_contract_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite:///./analytics.db"
    assert (settings.host, settings.port, settings.email_port) == ("127.0.0.1", 8000, 587)
    assert settings.email_use_tls == "starttls"
    assert settings.report_schedule == "0 8 * * mon"
    assert settings.report_timezone == "UTC"
    assert settings.scheduler_enabled is True
    assert settings.admin_api_key is None
    assert settings.write_keys == []
    assert settings.report_recipients == []


def test_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITE_KEYS", "wk_one, wk_two,,")
    monkeypatch.setenv("REPORT_RECIPIENTS", "a@example.com,b@example.com")
    monkeypatch.setenv("ADMIN_API_KEY", "s3cret-s3cret-s3cret")
    monkeypatch.setenv("REPORT_TIMEZONE", "Asia/Kathmandu")
    settings = load_settings(_env_file=None)
    assert settings.write_keys == ["wk_one", "wk_two"]
    assert settings.report_recipients == ["a@example.com", "b@example.com"]
    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == "s3cret-s3cret-s3cret"
    assert "s3cret" not in repr(settings)
    assert "sqlite" not in repr(settings)  # the database URL may hold a password


def test_values_from_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("EMAIL_PORT=2525\nEMAIL_USE_TLS=ssl\nADMIN_API_KEY=\n")
    settings = load_settings(_env_file=env_file)
    assert (settings.email_port, settings.email_use_tls) == (2525, "ssl")
    assert settings.admin_api_key is None


@pytest.mark.parametrize(
    ("url", "driver_url"),
    [
        ("postgresql://u:p@db:5432/a", "postgresql+psycopg://u:p@db:5432/a"),
        ("postgresql+psycopg://u@db/a", "postgresql+psycopg://u@db/a"),
        ("postgres://u@db/a", "postgresql+psycopg://u@db/a"),
        ("sqlite:///./analytics.db", "sqlite:///./analytics.db"),
    ],
)
def test_database_urls(url: str, driver_url: str) -> None:
    assert load_settings(_env_file=None, database_url=url).sqlalchemy_url == driver_url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMAIL_PORT", "not-a-port"),
        ("EMAIL_PORT", "70000"),
        ("EMAIL_USE_TLS", "maybe"),
        ("REPORT_TIMEZONE", "Mars/Olympus_Mons"),
        ("REPORT_SCHEDULE", "every monday"),
        ("INGEST_RATE_LIMIT", "lots"),
        ("DATABASE_URL", "mysql://root@localhost/analytics"),
        ("SCHEDULER_ENABLED", "perhaps"),
        ("PORT", "0"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"\b{variable}\b"):
        load_settings(_env_file=None)


def test_bad_value_stops_the_seed_start_command(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "EMAIL_PORT": "abc", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "EMAIL_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_short_admin_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", "letmein")
    with pytest.raises(SettingsError, match=r"ADMIN_API_KEY: .*at least 16 characters"):
        load_settings(_env_file=None)
