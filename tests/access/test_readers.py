"""Who reads: an admin key reads every site, a viewer key its own site and nothing an admin
key is needed for, a write key reads nothing. `ReaderDep` says whose request it is; the routes
that take it are probed here through one of their own, mounted on the test's app."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from plugin_analytics.security import READER_REFUSALS, ReaderDep
from plugin_analytics.services import services_of
from tests.access.conftest import MakeSite
from tests.access.helpers import key_rows, make_key, revoke
from tests.conftest import ADMIN, client_of, started

pytestmark = pytest.mark.anyio

PROBE = "/test/reader"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def whoami(reader: ReaderDep) -> dict[str, Any]:
    return {"site_num": reader.site_num, "is_admin": reader.is_admin}


def with_probe(app: FastAPI) -> FastAPI:
    app.add_api_route(PROBE, whoami, methods=["GET"], responses=READER_REFUSALS)
    return app


@pytest.fixture
async def probed(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(with_probe(app)) as http:
        yield http


async def test_an_admin_key_reads_every_site(probed: httpx.AsyncClient) -> None:
    response = await probed.get(PROBE, headers=ADMIN)
    assert response.json() == {"site_num": None, "is_admin": True}


async def test_a_viewer_key_reads_its_site(
    app: FastAPI, probed: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    shop = sites("shop")
    viewer = make_key(database_url, "viewer", site="shop")
    made_admin = make_key(database_url, "admin")
    services_of(app).keys.load()
    as_viewer = await probed.get(PROBE, headers=bearer(viewer.key))
    assert as_viewer.json() == {"site_num": shop, "is_admin": False}
    as_admin = await probed.get(PROBE, headers=bearer(made_admin.key))
    assert as_admin.json() == {"site_num": None, "is_admin": True}


async def test_a_write_key_or_none_reads_nothing(
    app: FastAPI, probed: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    sites("shop")
    write = make_key(database_url, "write", site="shop")
    viewer = make_key(database_url, "viewer", site="shop")
    services_of(app).keys.load()
    refused = await probed.get(PROBE, headers=bearer(write.key))
    assert refused.status_code == 403
    assert "write key" in refused.json()["detail"]
    for headers in ({}, bearer("pa_viewer_nobody_made_it")):
        unknown = await probed.get(PROBE, headers=headers)
        assert unknown.status_code == 401
        assert unknown.headers["WWW-Authenticate"] == "Bearer"
    revoke(database_url, viewer.key)
    services_of(app).keys.load()
    revoked = await probed.get(PROBE, headers=bearer(viewer.key))
    assert revoked.status_code == 401
    assert revoked.json() == {"detail": "this key was revoked"}


ADMIN_ONLY = [
    ("POST", "/keys", {"json": {"kind": "admin", "name": "mine now"}}),
    ("GET", "/keys", {}),
    ("DELETE", "/keys/{viewer}", {}),
    ("DELETE", "/users/x", {}),
    ("GET", "/audit", {}),
]


@pytest.mark.parametrize(("method", "url", "request_args"), ADMIN_ONLY)
async def test_a_viewer_key_is_refused_where_an_admin_key_is_needed(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, sites: MakeSite,
    method: str, url: str, request_args: dict[str, Any],
) -> None:  # fmt: skip
    sites("shop")
    viewer = make_key(database_url, "viewer", site="shop")
    services_of(app).keys.load()
    response = await client.request(
        method, url.format(viewer=viewer.id), headers=bearer(viewer.key), **request_args
    )
    assert response.status_code == 403, response.text
    assert response.json() == {
        "detail": "a viewer key can only read its own site's data; this takes an admin key"
    }
    assert [(row["kind"], row["revoked_at"]) for row in key_rows(database_url)] == [
        ("viewer", None)
    ]


async def test_a_viewer_key_cannot_send_events(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    sites("shop")
    make_key(database_url, "write", site="shop")
    viewer = make_key(database_url, "viewer", site="shop")
    services_of(app).keys.load()
    response = await client.post("/client/update", json={}, headers={"X-Write-Key": viewer.key})
    assert response.status_code == 403
    assert "viewer key" in response.json()["detail"]


async def test_viewer_keys_read_without_any_admin_key(
    database_url: str, sites: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    app = with_probe(create_app(load_settings(_env_file=None, database_url=database_url)))
    shop = sites("shop")
    async with started(app), client_of(app) as http:
        nobody = await http.get(PROBE, headers=bearer("pa_viewer_nobody_made_it"))
        assert nobody.status_code == 503
        assert "ADMIN_API_KEY" in nobody.json()["detail"]
        viewer = make_key(database_url, "viewer", site="shop")
        services_of(app).keys.load()
        reads = await http.get(PROBE, headers=bearer(viewer.key))
        assert reads.json() == {"site_num": shop, "is_admin": False}
        still = await http.get("/keys", headers=bearer(viewer.key))
        assert still.status_code == 503  # an admin route: no admin key exists
