"""CORS: browsers on CORS_ORIGINS may call ingestion; read and admin routes never allow it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from plugin_analytics.config import SettingsError, load_settings
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

SITE = "https://shop.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        _env_file=None,
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        cors_origins=f"{SITE}, http://localhost:3000",
    )
    async with client_for(settings) as http:
        yield http


def preflight(origin: str, headers: str = "content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize("path", ["/client/update", "/client/batch"])
async def test_an_allowed_origin_passes_the_preflight(
    cors_client: httpx.AsyncClient, path: str
) -> None:
    response = await cors_client.options(path, headers=preflight(SITE, "content-type,x-write-key"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"content-type", "x-write-key", "authorization"} <= set(allowed.split(", "))
    assert response.headers["access-control-max-age"] == "86400"
    assert "Origin" in response.headers["vary"]


async def test_another_origin_fails_the_preflight(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options("/client/update", headers=preflight(OTHER))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_post_from_an_allowed_origin_may_be_read_by_it(
    cors_client: httpx.AsyncClient, database_url: str
) -> None:
    response = await cors_client.post("/client/update", json=event(), headers={"Origin": SITE})
    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    assert response.headers["access-control-allow-origin"] == SITE
    assert "Origin" in response.headers["vary"]
    assert len(stored_events(database_url)) == 1


async def test_a_post_from_another_origin_gets_no_cors_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    # The browser keeps the answer from the page; the event itself is still stored, as a
    # sendBeacon (which never reads the answer) would be.
    response = await cors_client.post("/client/update", json=event(), headers={"Origin": OTHER})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "path", ["/analytics/summary", "/analytics/export", "/reports", "/users/u/history"]
)
async def test_read_routes_never_allow_cross_origin_reads(
    cors_client: httpx.AsyncClient, path: str
) -> None:
    response = await cors_client.get(path, headers={"Origin": SITE, **ADMIN})
    assert response.status_code in (200, 404)
    assert not [name for name in response.headers if name.startswith("access-control-")]
    refused = await cors_client.options(path, headers=preflight(SITE, "authorization"))
    assert refused.status_code == 405
    assert not [name for name in refused.headers if name.startswith("access-control-")]


async def test_without_cors_origins_no_origin_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.options("/client/update", headers=preflight(SITE))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_plain_options_request_is_405(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options("/client/update")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


@pytest.mark.parametrize(
    "origins", ["https://shop.example.com/", "shop.example.com", "https://a.com/path", "ftp://x"]
)
def test_an_origin_with_a_path_or_no_scheme_is_refused(origins: str) -> None:
    with pytest.raises(SettingsError, match="  CORS_ORIGINS: "):
        load_settings(_env_file=None, cors_origins=origins)
