"""Fixtures for the report tests: a real SMTP server on loopback that the app trusts."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from plugin_analytics.config import Settings, load_settings
from tests.conftest import ADMIN_KEY, client_for
from tests.reports.smtp import SmtpServer, ca_bundle


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca_bundle(ca, tmp_path_factory.mktemp("ca"))


@pytest.fixture
def trust_ca(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app (ssl.create_default_context) trusts the test CA, as SSL_CERT_FILE makes it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    return ca_file


@pytest.fixture
def smtp(ca: trustme.CA, trust_ca: Path) -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH required (after TLS)."""
    server = SmtpServer(ca, "starttls").start()
    yield server
    server.stop()


def settings_for(database_url: str, **email: Any) -> Settings:
    """The report tests' site (Acme Shop, Europe/Paris, schedule off) with these EMAIL_* etc."""
    return load_settings(
        _env_file=None,
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        scheduler_enabled=False,
        site_name="Acme Shop",
        report_timezone="Europe/Paris",
        **email,
    )


@pytest.fixture
async def report_client(database_url: str, smtp: SmtpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings_for(database_url, **smtp.settings())) as http:
        yield http
