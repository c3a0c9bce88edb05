"""No site's data is readable across sites: every route that reads a site (found in the OpenAPI
document, so a new one is covered by itself) answers a viewer key of another site, and any key
naming a site that does not exist, with the same 404; a viewer key reads its own site without
naming it; and a viewer key cannot change anything (403)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from plugin_analytics.services import services_of
from tests.access.helpers import make_key, make_site
from tests.conftest import ADMIN, client_of

pytestmark = pytest.mark.anyio

TODAY = datetime.now(UTC).date()
RECENT = {"start_date": str(TODAY - timedelta(days=1)), "end_date": str(TODAY + timedelta(days=1))}
PATH_VALUES = {"user_id": "ana", "session_id": "s1"}
# Routes a viewer key may not call: what changes data, sends, or manages the installation.
ADMIN_ONLY = [
    ("DELETE", "/users/ana"),
    ("POST", "/reports/weekly"),
    ("GET", "/audit"),
    ("GET", "/sites"),
    ("POST", "/sites"),
    ("GET", "/sites/shop"),
    ("PATCH", "/sites/shop"),
    ("DELETE", "/sites/shop"),
    ("GET", "/keys"),
    ("POST", "/keys"),
    ("DELETE", "/keys/1"),
    ("GET", "/plugins"),
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def site_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) of every route that takes `?site=`."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if "site" in names:
                found.append((method.upper(), path.format(**PATH_VALUES)))
    return sorted(found)


@pytest.fixture
async def two_sites(app: FastAPI, database_url: str) -> AsyncIterator[dict[str, Any]]:
    """`default` and `shop`, each with one conversation of user ana, and a viewer key each."""
    make_site(database_url, "shop")
    keys = {
        "default": make_key(database_url, "viewer", site="default").key,
        "shop": make_key(database_url, "viewer", site="shop").key,
    }
    services_of(app).keys.load()
    async with client_of(app) as client:
        for site in ("default", "shop"):
            events = [
                {
                    "user_id": "ana",
                    "session_id": "s1",
                    "event_type": "message",
                    "message": f"Hi from {site}",
                },
                {"user_id": "ana", "session_id": "s1", "event_type": "cta_click", "cta_id": site},
            ]
            response = await client.post("/client/batch", json={"events": events, "site": site})
            assert response.status_code == 200, response.text
        yield {"client": client, "keys": keys}


async def test_the_routes_that_read_a_site_are_all_found(app: FastAPI) -> None:
    """Guards the tests below: they would pass over an empty list."""
    paths = {path for _, path in site_routes(app)}
    assert {
        "/analytics/summary",
        "/analytics/ctas",
        "/analytics/export",
        "/users/ana/history",
        "/sessions/s1",
        "/reports/weekly/preview",
        "/reports",
        "/analytics/insights",
        "/plugins/feedback/summary",
    } <= paths


async def test_a_viewer_of_another_site_gets_404_everywhere(
    app: FastAPI, two_sites: dict[str, Any]
) -> None:
    client, keys = two_sites["client"], two_sites["keys"]
    for method, path in site_routes(app):
        if method != "GET":
            continue  # the others take an admin key (below)
        response = await client.request(
            method, path, params={"site": "shop"}, headers=bearer(keys["default"])
        )
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"detail": "there is no site 'shop'"}, path


async def test_an_unknown_site_is_the_same_404_for_every_key(
    app: FastAPI, two_sites: dict[str, Any]
) -> None:
    client, keys = two_sites["client"], two_sites["keys"]
    for method, path in site_routes(app):
        for headers in (ADMIN, bearer(keys["shop"])):
            if method != "GET" and headers is not ADMIN:
                continue
            response = await client.request(
                method, path, params={"site": "nowhere"}, headers=headers
            )
            assert response.status_code == 404, (method, path, response.text)
            assert response.json() == {"detail": "there is no site 'nowhere'"}, path


async def test_a_viewer_reads_its_own_site_without_naming_it(two_sites: dict[str, Any]) -> None:
    client, keys = two_sites["client"], two_sites["keys"]
    for site in ("default", "shop"):
        history = await client.get("/users/ana/history", headers=bearer(keys[site]))
        assert history.status_code == 200, history.text
        (session,) = history.json()["sessions"]
        assert session["events"][0]["message"] == f"Hi from {site}"
        ctas = await client.get("/analytics/ctas", params=RECENT, headers=bearer(keys[site]))
        assert [c["cta_id"] for c in ctas.json()["ctas"]] == [site]
        named = await client.get(
            "/analytics/ctas",
            params={**RECENT, "site": site},
            headers=bearer(keys[site]),
        )
        assert named.json() == ctas.json()


async def test_an_admin_reads_each_site_and_default_without_naming_one(
    two_sites: dict[str, Any],
) -> None:
    client = two_sites["client"]
    for params, site in (
        ({}, "default"),
        ({"site": "default"}, "default"),
        ({"site": "shop"}, "shop"),
    ):
        response = await client.get("/sessions/s1", params=params, headers=ADMIN)
        assert response.json()["events"][0]["message"] == f"Hi from {site}"


async def test_a_viewer_cannot_change_anything(two_sites: dict[str, Any]) -> None:
    client, keys = two_sites["client"], two_sites["keys"]
    for method, path in ADMIN_ONLY:
        response = await client.request(method, path, headers=bearer(keys["shop"]))
        assert response.status_code == 403, (method, path, response.text)
    history = await client.get("/users/ana/history", params={"site": "shop"}, headers=ADMIN)
    assert history.status_code == 200  # the erasure above was refused: nothing was deleted
