"""INGEST_RATE_LIMIT: a budget per (write key, client address), counted in each worker.

In-process tests choose the client address the app sees (httpx's ASGI transport sets the peer);
the X-Forwarded-For tests also run the real server (`uvicorn main:app`, the seed's command) over
loopback, where the peer is 127.0.0.1, as behind a proxy on the same host.
"""

import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from plugin_analytics.services import services_of
from tests.access.helpers import away_from_window_edge
from tests.conftest import ADMIN_KEY, started
from tests.helpers import event, stored_events
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio

LIMIT = "3/minute"
KEY_A, KEY_B = "wk_site_a_0123456789", "wk_site_b_0123456789"
PATHS = ["/client/update", "/client/batch"]


def body_for(path: str, event_id: str) -> dict[str, Any]:
    if path == "/client/update":
        return event(event_id=event_id)
    return {"events": [event(event_id=f"{event_id}.1"), event(event_id=f"{event_id}.2")]}


@asynccontextmanager
async def limited_app(database_url: str, **settings: str) -> AsyncIterator[FastAPI]:
    """An app limited to LIMIT (unless `settings` say otherwise), started."""
    app = create_app(
        load_settings(
            _env_file=None,
            database_url=database_url,
            admin_api_key=ADMIN_KEY,
            **{"ingest_rate_limit": LIMIT, **settings},
        )
    )
    async with started(app):
        yield app


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client the app sees connecting from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60, retry_after
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert LIMIT in detail


@pytest.fixture(autouse=True)
def one_window() -> None:
    away_from_window_edge()


@pytest.mark.parametrize("path", PATHS)
async def test_fourth_request_in_a_minute_is_refused(database_url: str, path: str) -> None:
    async with limited_app(database_url) as app, client_at(app, "192.0.2.1") as http:
        for n in range(3):
            assert (await http.post(path, json=body_for(path, f"ok{n}"))).status_code == 200
        assert_limited(await http.post(path, json=body_for(path, "refused")))
        assert_limited(await http.post(path, json=body_for(path, "refused-again")))
    stored = {row["event_id"] for row in stored_events(database_url)}
    assert len(stored) == (3 if path == "/client/update" else 6)
    assert not any(event_id.startswith("refused") for event_id in stored)


async def test_each_write_key_in_a_header_has_its_own_budget(database_url: str) -> None:
    async with (
        limited_app(database_url, write_keys=f"{KEY_A},{KEY_B}") as app,
        client_at(app, "192.0.2.1") as http,
    ):
        # However the header carries the key, it is the same key, with one budget.
        sent_a: list[dict[str, Any]] = [
            {"json": event(event_id="a0"), "headers": {"X-Write-Key": KEY_A}},
            {"json": event(event_id="a1"), "auth": (KEY_A, "")},
            {"json": event(event_id="a2"), "headers": {"Authorization": f"Bearer {KEY_A}"}},
            {"json": event(event_id="a3"), "headers": {"X-Write-Key": KEY_A}},
        ]
        for request in sent_a[:3]:
            assert (await http.post("/client/update", **request)).status_code == 200
        assert_limited(await http.post("/client/update", **sent_a[3]))
        for n in range(3):
            response = await http.post(
                "/client/batch",
                json={"events": [event(event_id=f"b{n}")]},
                headers={"X-Write-Key": KEY_B},
            )
            assert response.status_code == 200
        assert_limited(
            await http.post(
                "/client/update", json=event(event_id="b3"), headers={"X-Write-Key": KEY_B}
            )
        )
    assert sorted(row["event_id"] for row in stored_events(database_url)) == [
        "a0", "a1", "a2", "b0", "b1", "b2",
    ]  # fmt: skip


async def test_keys_in_the_body_share_their_address_budget(database_url: str) -> None:
    """A key in the body is known only once the body is read and parsed, so such requests are
    counted by client address before that, whichever key they carry (and a wrong one too)."""
    async with (
        limited_app(database_url, write_keys=f"{KEY_A},{KEY_B}") as app,
        client_at(app, "192.0.2.1") as http,
    ):
        wrong = await http.post("/client/update", json=event(event_id="x", write_key="wk_nope"))
        assert wrong.status_code == 401
        sent = [event(event_id="a0", write_key=KEY_A), event(event_id="b0", write_key=KEY_B)]
        for body in sent:
            assert (await http.post("/client/update", json=body)).status_code == 200
        assert_limited(
            await http.post("/client/update", json=event(event_id="a1", write_key=KEY_A))
        )
        # A key in a header has a budget of its own.
        header = await http.post(
            "/client/update", json=event(event_id="a2"), headers={"X-Write-Key": KEY_A}
        )
        assert header.status_code == 200
    assert sorted(row["event_id"] for row in stored_events(database_url)) == ["a0", "a2", "b0"]


async def test_each_client_address_has_its_own_budget(database_url: str) -> None:
    addresses = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
    async with limited_app(database_url) as app:
        for address in addresses:
            async with client_at(app, address) as http:
                for n in range(3):
                    response = await http.post("/client/update", json=event(event_id=f"{n}"))
                    assert response.status_code == 200, address
                assert_limited(await http.post("/client/update", json=event()))
    assert len(stored_events(database_url)) == 3  # event_ids 0-2, sent by each client


async def test_nothing_is_limited_without_a_limit(database_url: str) -> None:
    async with limited_app(database_url, ingest_rate_limit="") as app:
        assert services_of(app).rate_limit is None
        async with client_at(app, "192.0.2.1") as http:
            for n in range(25):
                path = PATHS[n % 2]
                response = await http.post(path, json=body_for(path, f"e{n}"))
                assert response.status_code == 200, n
    assert len(stored_events(database_url)) == 13 + 12 * 2


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(database_url: str) -> None:
    for trusted in ("", "10.0.0.1"):
        async with (
            limited_app(database_url, trusted_proxies=trusted) as app,
            client_at(app, "127.0.0.1") as http,
        ):
            for n in range(3):
                response = await http.post(
                    "/client/update", json=event(), headers=forwarded(f"198.51.100.{n}")
                )
                assert response.status_code == 200, trusted
            assert_limited(
                await http.post("/client/update", json=event(), headers=forwarded("198.51.100.9"))
            )


@pytest.mark.parametrize(
    ("trusted", "proxy"), [("127.0.0.1", "127.0.0.1"), ("10.0.0.0/8", "10.1.2.3")]
)
async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    database_url: str, trusted: str, proxy: str
) -> None:
    async with (
        limited_app(database_url, trusted_proxies=trusted) as app,
        client_at(app, proxy) as http,
    ):
        for n in range(4):
            response = await http.post(
                "/client/update", json=event(), headers=forwarded(f"198.51.100.{n}")
            )
            assert response.status_code == 200, n
        for _ in range(2):
            await http.post("/client/update", json=event(), headers=forwarded("198.51.100.0"))
        assert_limited(
            await http.post("/client/update", json=event(), headers=forwarded("198.51.100.0"))
        )


async def test_a_network_with_host_bits_is_honoured_as_its_network(database_url: str) -> None:
    # Honoured, as the network it lies in (uvicorn alone would ignore it).
    settings = load_settings(
        _env_file=None, database_url=database_url, trusted_proxies="127.0.0.1/8"
    )
    assert settings.trusted_proxies == ["127.0.0.0/8"]
    async with (
        limited_app(database_url, trusted_proxies="127.0.0.1/8") as app,
        client_at(app, "127.0.0.5") as http,
    ):
        for n in range(4):
            response = await http.post(
                "/client/update", json=event(), headers=forwarded(f"198.51.100.{n}")
            )
            assert response.status_code == 200, n


@dataclass
class Loopback:
    server: ServerProcess
    database_url: str


@pytest.fixture(scope="module")
def loopback(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Loopback]]:
    """Two real servers limited to LIMIT, by TRUSTED_PROXIES ("" or 127.0.0.1), started
    together (each takes seconds)."""
    servers = {}
    for trusted in ("", "127.0.0.1"):
        path = tmp_path_factory.mktemp("loopback") / "analytics.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        # uvicorn's own X-Forwarded-For handling trusts 127.0.0.1 unless told otherwise (as the
        # README says to, for `uvicorn main:app`): only the app's TRUSTED_PROXIES decides here.
        server = ServerProcess(
            url,
            INGEST_RATE_LIMIT=LIMIT,
            TRUSTED_PROXIES=trusted,
            WRITE_KEYS="",
            FORWARDED_ALLOW_IPS="",
        )
        servers[trusted] = Loopback(server, url)
    with ThreadPoolExecutor() as pool:
        try:
            list(pool.map(lambda each: each.server.start(), servers.values()))
            yield servers
        finally:
            list(pool.map(lambda each: each.server.kill(signal.SIGTERM), servers.values()))


def post_from(server: ServerProcess, client_address: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/client/update",
        json=event(),
        headers=forwarded(client_address),
        timeout=10,
    )


@pytest.mark.slow
def test_real_server_ignores_forwarded_for_without_trusted_proxies(
    loopback: dict[str, Loopback],
) -> None:
    server, database_url = loopback[""].server, loopback[""].database_url
    away_from_window_edge()
    for n in range(3):
        assert post_from(server, f"198.51.100.{n}").status_code == 200
    assert_limited(post_from(server, "198.51.100.9"))
    assert len(stored_events(database_url)) == 3


@pytest.mark.slow
def test_real_server_honours_forwarded_for_from_trusted_proxies(
    loopback: dict[str, Loopback],
) -> None:
    server, database_url = loopback["127.0.0.1"].server, loopback["127.0.0.1"].database_url
    away_from_window_edge()
    for n in range(4):
        assert post_from(server, f"198.51.100.{n}").status_code == 200
    for _ in range(2):
        assert post_from(server, "198.51.100.0").status_code == 200
    assert_limited(post_from(server, "198.51.100.0"))
    assert len(stored_events(database_url)) == 6
