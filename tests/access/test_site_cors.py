"""CORS on ingestion for every site's domains, as the key ring holds them: a domain given to a
site while the server runs is allowed from the ring's next reload, with no restart, beside
CORS_ORIGINS; read and admin routes still never answer CORS."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.access.ring import site_origins
from plugin_analytics.app import create_app
from plugin_analytics.config import Settings
from plugin_analytics.services import services_of
from tests.access.conftest import MakeSite
from tests.access.helpers import set_domains
from tests.conftest import ADMIN, client_of, started

pytestmark = pytest.mark.anyio

CONFIGURED = "https://configured.example"
SHOP = "https://shop.example"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-write-key",
    }


@pytest.fixture
async def cors_app(settings: Settings, sites: MakeSite) -> AsyncIterator[FastAPI]:
    """CORS_ORIGINS holds one origin; the site `shop` has no domain yet."""
    sites("shop")
    app = create_app(settings.model_copy(update={"cors_origins": [CONFIGURED]}))
    async with started(app):
        yield app


async def allows(http: httpx.AsyncClient, origin: str, path: str = "/client/update") -> bool:
    response = await http.options(path, headers=preflight(origin))
    allowed: str | None = response.headers.get("access-control-allow-origin")
    assert allowed in (None, origin), allowed  # the origin itself, never `*`
    assert (response.status_code == 200) == (allowed == origin), response.text
    return allowed == origin


async def test_a_domain_given_to_a_site_is_allowed_from_the_next_reload(
    cors_app: FastAPI, database_url: str
) -> None:
    async with client_of(cors_app) as http:
        assert not await allows(http, SHOP)
        set_domains(database_url, "shop", ["shop.example", "https://app.shop.example:8443"])
        services_of(cors_app).keys.load()
        for origin in (SHOP, "http://shop.example", "https://app.shop.example:8443", CONFIGURED):
            for path in ("/client/update", "/client/batch", "/v1/track"):
                assert await allows(http, origin, path), (origin, path)
        for origin in (
            "https://app.shop.example",
            "https://evil.example",
            "https://shop.example.evil",
        ):
            assert not await allows(http, origin), origin


async def test_a_domain_taken_from_a_site_is_refused_from_the_next_reload(
    cors_app: FastAPI, database_url: str
) -> None:
    set_domains(database_url, "shop", ["shop.example"])
    services_of(cors_app).keys.load()
    async with client_of(cors_app) as http:
        assert await allows(http, SHOP)
        set_domains(database_url, "shop", [])
        services_of(cors_app).keys.load()
        assert not await allows(http, SHOP)
        assert await allows(http, CONFIGURED)


async def test_the_preflight_of_a_site_is_the_configured_one(
    cors_app: FastAPI, database_url: str
) -> None:
    set_domains(database_url, "shop", ["shop.example"])
    services_of(cors_app).keys.load()
    async with client_of(cors_app) as http:
        site, configured = [
            await http.options("/client/batch", headers=preflight(origin))
            for origin in (SHOP, CONFIGURED)
        ]
    names = (
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-max-age",
        "vary",
    )
    assert [site.headers[name] for name in names] == [configured.headers[name] for name in names]
    assert site.headers["access-control-max-age"] == "86400"


async def test_a_post_from_a_sites_domain_may_be_read_by_it(
    cors_app: FastAPI, database_url: str
) -> None:
    set_domains(database_url, "shop", ["shop.example"])
    services_of(cors_app).keys.load()
    async with client_of(cors_app) as http:
        response = await http.post("/client/update", json={}, headers={"Origin": SHOP})
        other = await http.post(
            "/client/update", json={}, headers={"Origin": "https://evil.example"}
        )
    assert response.status_code == 422
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in response.headers["vary"]
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("path", ["/analytics/summary", "/keys", "/users/u/history"])
async def test_read_routes_never_allow_a_sites_domain(
    cors_app: FastAPI, database_url: str, path: str
) -> None:
    set_domains(database_url, "shop", ["shop.example"])
    services_of(cors_app).keys.load()
    async with client_of(cors_app) as http:
        response = await http.get(path, headers={"Origin": SHOP, **ADMIN})
        refused = await http.options(path, headers=preflight(SHOP))
    assert response.status_code in (200, 404)
    assert refused.status_code == 405
    for answer in (response, refused):
        assert not [name for name in answer.headers if name.startswith("access-control-")]


@pytest.mark.parametrize(
    ("domains", "origins"),
    [
        (["shop.example"], {"https://shop.example", "http://shop.example"}),
        (["Shop.Example", " shop.example "], {"https://shop.example", "http://shop.example"}),
        (["https://shop.example/"], {"https://shop.example"}),
        (["http://localhost:3000"], {"http://localhost:3000"}),
        (["", "  "], set()),
    ],
)
def test_a_domain_stands_for_its_origins(domains: list[str], origins: set[str]) -> None:
    assert site_origins(domains) == origins
