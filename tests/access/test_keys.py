"""Write keys guard ingestion, admin keys guard reading, and neither opens the other's door.

Over HTTP through the app, on SQLite and PostgreSQL. Keys come from WRITE_KEYS / ADMIN_API_KEY or
are made as `plugin-analytics keys create` makes them; a test that makes or revokes a key while
the app runs reloads the app's key ring, as every worker does every few seconds.
"""

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.app import create_app
from plugin_analytics.config import Settings, SettingsError, load_settings
from plugin_analytics.services import services_of
from tests.access.helpers import make_key, revoke
from tests.conftest import ADMIN, ADMIN_KEY, client_of, started
from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

SETTINGS_WRITE_KEY = "wk_settings_0123456789"
PATHS = ["/client/update", "/client/batch"]
HOW = ["X-Write-Key", "Basic", "Bearer", "body"]
TODAY = datetime.now(UTC).date().isoformat()


@dataclass
class Keyed:
    """A running app whose ingestion needs `key`."""

    app: FastAPI
    http: httpx.AsyncClient
    key: str


def body_for(path: str, event_id: str, **top_level: Any) -> dict[str, Any]:
    """A one-event body for `path`, with `top_level` fields beside the event(s)."""
    if path == "/client/update":
        return {**event(event_id=event_id), **top_level}
    return {"events": [event(event_id=event_id)], **top_level}


def sent_with(key: str, how: str, path: str, event_id: str) -> dict[str, Any]:
    """The arguments of `http.post(path, ...)` sending `key` the way `how` says."""
    if how == "body":
        return {"json": body_for(path, event_id, write_key=key)}
    request: dict[str, Any] = {"json": body_for(path, event_id)}
    if how == "X-Write-Key":
        request["headers"] = {"X-Write-Key": key}
    elif how == "Bearer":
        request["headers"] = {"Authorization": f"Bearer {key}"}
    else:  # Segment's way: the key as the user name, no password
        request["auth"] = (key, "")
    return request


async def assert_nothing_stored(http: httpx.AsyncClient, database_url: str) -> None:
    assert stored_events(database_url) == []
    summary = await http.get(
        "/analytics/summary", params={"start_date": TODAY, "end_date": TODAY}, headers=ADMIN
    )
    assert summary.status_code == 200
    assert summary.json()["total_messages"] == 0


def with_write_keys(settings: Settings, *keys: str) -> Settings:
    return load_settings(
        _env_file=None,
        database_url=settings.database_url,
        admin_api_key=ADMIN_KEY,
        write_keys=",".join(keys),
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with started(app), client_of(app) as http:
        yield app, http


@pytest.fixture(params=["WRITE_KEYS", "keys-create"])
async def keyed(
    request: pytest.FixtureRequest, settings: Settings, database_url: str
) -> AsyncIterator[Keyed]:
    """An app whose write key is in WRITE_KEYS, or was made with the CLI before it started."""
    if request.param == "WRITE_KEYS":
        key = SETTINGS_WRITE_KEY
        settings = with_write_keys(settings, key)
    else:
        key = make_key(database_url, "write").key
    async with running(settings) as (app, http):
        yield Keyed(app, http, key)


# Ingestion (ours, Segment's, PostHog's) and health.
PUBLIC_TAGS = {"ingestion", "Segment", "PostHog", "health"}
PUBLIC_PATHS = ("/client/", "/v1/", "/healthz")


def read_requests(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, route, url) of every read/admin operation the API documents: all but the
    public ones."""
    return [
        (method.upper(), path, re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in app.openapi()["paths"].items()
        if not path.startswith(PUBLIC_PATHS)
        for method, operation in operations.items()
        if not PUBLIC_TAGS & set(operation.get("tags", []))
    ]


CONTRACT_READS = {
    ("GET", "/analytics/summary"),
    ("GET", "/analytics/timeseries"),
    ("GET", "/analytics/ctas"),
    ("GET", "/analytics/export"),
    ("GET", "/users/{user_id}/history"),
    ("GET", "/sessions/{session_id}"),
    ("DELETE", "/users/{user_id}"),
    ("POST", "/reports/weekly"),
}
DAY = {"start_date": TODAY, "end_date": TODAY}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_ingestion_is_open_while_no_write_key_exists(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for path in PATHS:
        assert (await client.post(path, json=body_for(path, path))).status_code == 200
    # With no write key in force, nothing checks the key a client happens to send.
    stranger = await client.post(
        "/client/update", **sent_with("wk_x", "X-Write-Key", "/client/update", "x")
    )
    assert stranger.status_code == 200
    malformed = await client.post(
        "/client/update", json=body_for("/client/update", "m"), headers={"Authorization": "Basic !"}
    )
    assert malformed.status_code == 200
    stored = sorted(row["event_id"] for row in stored_events(database_url))
    assert stored == sorted([*PATHS, "x", "m"])


@pytest.mark.parametrize("path", PATHS)
async def test_no_key_is_refused(keyed: Keyed, database_url: str, path: str) -> None:
    response = await keyed.http.post(path, json=body_for(path, "no-key"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "write key is required" in response.json()["detail"]
    await assert_nothing_stored(keyed.http, database_url)


@pytest.mark.parametrize("path", PATHS)
async def test_unknown_key_is_refused(keyed: Keyed, database_url: str, path: str) -> None:
    for how in HOW:
        response = await keyed.http.post(path, **sent_with("wk_nobody_made_it", how, path, how))
        assert response.status_code == 401, how
        assert response.json() == {"detail": "invalid write key"}, how
        assert "WWW-Authenticate" in response.headers
    await assert_nothing_stored(keyed.http, database_url)


@pytest.mark.parametrize("path", PATHS)
async def test_right_key_is_accepted_however_sent(
    keyed: Keyed, database_url: str, path: str
) -> None:
    for how in HOW:
        response = await keyed.http.post(path, **sent_with(keyed.key, how, path, how))
        assert response.status_code == 200, (how, response.text)
    assert sorted(row["event_id"] for row in stored_events(database_url)) == sorted(HOW)


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


MALFORMED_BASIC = [
    "Basic !!!not-base64!!!",
    "Basic abc",  # bad padding
    basic(b"\xff\xfe:"),  # not UTF-8
]


@pytest.mark.parametrize("path", PATHS)
async def test_malformed_basic_credentials_are_refused(
    keyed: Keyed, database_url: str, path: str
) -> None:
    for n, header in enumerate(MALFORMED_BASIC):
        response = await keyed.http.post(
            path, json=body_for(path, f"m{n}"), headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert "WWW-Authenticate" in response.headers
    await assert_nothing_stored(keyed.http, database_url)


@pytest.mark.parametrize("path", PATHS)
async def test_admin_keys_cannot_send_events(keyed: Keyed, database_url: str, path: str) -> None:
    made_admin = make_key(database_url, "admin").key
    services_of(keyed.app).keys.load()
    for key in (ADMIN_KEY, made_admin):
        for how in HOW:
            response = await keyed.http.post(path, **sent_with(key, how, path, how))
            assert response.status_code == 403, (key, how, response.text)
            assert "admin key" in response.json()["detail"]
    await assert_nothing_stored(keyed.http, database_url)


async def test_revoked_key_is_refused(settings: Settings, database_url: str) -> None:
    doomed, kept = make_key(database_url, "write"), make_key(database_url, "write")
    async with running(settings) as (app, http):
        before = await http.post(
            "/client/update", **sent_with(doomed.key, "X-Write-Key", "/client/update", "0")
        )
        assert before.status_code == 200
        revoke(database_url, doomed.key)
        services_of(app).keys.load()
        for path in PATHS:
            for how in HOW:
                response = await http.post(path, **sent_with(doomed.key, how, path, path + how))
                assert response.status_code == 401, (path, how)
                assert response.json() == {"detail": "this key was revoked"}
            accepted = await http.post(path, **sent_with(kept.key, "Basic", path, path))
            assert accepted.status_code == 200
    assert sorted(row["event_id"] for row in stored_events(database_url)) == sorted(["0", *PATHS])


async def test_revoking_the_last_key_keeps_ingestion_closed(
    settings: Settings, database_url: str
) -> None:
    async with running(settings) as (app, http):
        assert (await http.post("/client/update", json=event(event_id="open"))).status_code == 200
        only = make_key(database_url, "write")
        services_of(app).keys.load()
        assert (await http.post("/client/update", json=event())).status_code == 401
        revoke(database_url, str(only.id))
        services_of(app).keys.load()
        for path in PATHS:
            assert (await http.post(path, json=body_for(path, "after"))).status_code == 401
    async with running(settings) as (_, http):  # and after a restart
        for path in PATHS:
            assert (await http.post(path, json=body_for(path, "restart"))).status_code == 401
    assert [row["event_id"] for row in stored_events(database_url)] == ["open"]


async def test_write_key_never_opens_a_read_endpoint(keyed: Keyed, database_url: str) -> None:
    stored = await keyed.http.post(
        "/client/update", json=event(event_id="kept", user_id="x"), headers=bearer(keyed.key)
    )
    assert stored.status_code == 200
    requests = read_requests(keyed.app)
    assert {(method, route) for method, route, _ in requests} >= CONTRACT_READS
    for method, _, url in requests:
        response = await keyed.http.request(method, url, params=DAY, headers=bearer(keyed.key))
        assert response.status_code == 403, (method, url, response.text)
        assert "write key" in response.json()["detail"]
    assert [row["event_id"] for row in stored_events(database_url)] == ["kept"]  # not erased


READS = ["/analytics/summary", "/analytics/export", "/users/x/history"]


async def test_admin_key_from_the_cli_reads_until_revoked(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/client/update", json=event(user_id="x"))
    admin = make_key(database_url, "admin")
    services_of(app).keys.load()
    for url in READS:
        response = await client.get(url, params=DAY, headers=bearer(admin.key))
        assert response.status_code == 200, (url, response.text)
    revoke(database_url, str(admin.id))
    services_of(app).keys.load()
    for url in READS:
        response = await client.get(url, params=DAY, headers=bearer(admin.key))
        assert response.status_code == 401, url
        assert response.json() == {"detail": "this key was revoked"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get(url, params=DAY, headers=ADMIN)).status_code == 200


async def test_reading_needs_some_admin_key(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    settings = load_settings(_env_file=None, database_url=database_url)
    async with running(settings) as (app, http):
        for headers in ({}, ADMIN):
            response = await http.get("/analytics/summary", params=DAY, headers=headers)
            assert response.status_code == 503
            assert "ADMIN_API_KEY" in response.json()["detail"]
        admin = make_key(database_url, "admin")
        services_of(app).keys.load()
        ok = await http.get("/analytics/summary", params=DAY, headers=bearer(admin.key))
        assert ok.status_code == 200
        for headers in ({}, ADMIN):
            response = await http.get("/analytics/summary", params=DAY, headers=headers)
            assert response.status_code == 401
    async with running(settings) as (_, http):  # a CLI admin key alone, from the start
        ok = await http.get("/analytics/summary", params=DAY, headers=bearer(admin.key))
        assert ok.status_code == 200


@pytest.fixture
def clean_access_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WRITE_KEYS", "TRUSTED_PROXIES", "INGEST_RATE_LIMIT", "REDACT_PII_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_access_environment")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WRITE_KEYS", "wk_one,wk two"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/33"),
        ("INGEST_RATE_LIMIT", "fast"),
        ("INGEST_RATE_LIMIT", "0/minute"),  # would refuse everything
        ("REDACT_PII_REGION", "XX"),
        ("RETENTION_DAYS", "0"),
    ],
)
def test_bad_access_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"\b{variable}\b"):
        load_settings(_env_file=None)


@pytest.mark.usefixtures("clean_access_environment")
def test_good_access_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITE_KEYS", "wk_one, wk_two")
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8, ::1")
    monkeypatch.setenv("INGEST_RATE_LIMIT", "600 / minute")
    settings = load_settings(_env_file=None)
    assert settings.write_keys == ["wk_one", "wk_two"]
    assert settings.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert settings.ingest_rate_limit == "600 / minute"
