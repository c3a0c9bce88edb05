"""GET /keys, POST /keys, DELETE /keys/{id}: an admin key makes, lists and revokes keys of every
kind over HTTP; a key is shown once, only its digest is stored, every change is audited and in
force at once on the worker that made it, and bad input is a 422 naming the field."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.access.keys import digest
from plugin_analytics.access.ring import Reader, WriteAccess
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.services import services_of
from tests.access.conftest import MakeSite
from tests.access.helpers import audit_entries, database_dump, key_rows, make_key
from tests.conftest import ADMIN

pytestmark = pytest.mark.anyio

KIND_AND_SITE = [
    ({"kind": "write", "name": "front"}, ("write", "default")),
    ({"kind": "viewer", "site": "shop", "name": "owner"}, ("viewer", "shop")),
    ({"kind": "admin", "name": "ops"}, ("admin", None)),
    ({"kind": "write", "site": "shop", "name": "shop front"}, ("write", "shop")),
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def made(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/keys", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_every_kind_is_made_for_its_site(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    shop = sites("shop")
    keys = [await made(client, body) for body, _ in KIND_AND_SITE]
    assert [(key["kind"], key["site"]) for key in keys] == [
        expected for _, expected in KIND_AND_SITE
    ]
    for key in keys:
        assert key["key"].startswith(f"pa_{key['kind']}_")
        assert key["key"].startswith(key["prefix"])
        assert key["revoked_at"] is None
    write, viewer, admin, shop_write = (key["key"] for key in keys)
    ring = services_of(app).keys.current  # put in force by the route, no reload needed
    assert ring.check_write(write) == WriteAccess(digest(write), DEFAULT_SITE_NUM)
    assert ring.check_write(shop_write) == WriteAccess(digest(shop_write), shop)
    assert ring.check_reader(viewer) == Reader(shop)
    assert ring.check_reader(admin).is_admin
    dump = database_dump(database_url)
    for key in keys:
        assert key["key"] not in dump
        assert key["key"].removeprefix(f"pa_{key['kind']}_") not in dump


async def test_keys_made_over_the_api_are_taken_at_once(
    client: httpx.AsyncClient, sites: MakeSite
) -> None:
    sites("shop")
    write, viewer, admin = [await made(client, body) for body, _ in KIND_AND_SITE[:3]]
    # A bad body is refused only once the key in the header was let in.
    admitted = await client.post("/client/update", json={}, headers={"X-Write-Key": write["key"]})
    assert admitted.status_code == 422
    for refused in (viewer, admin):
        response = await client.post(
            "/client/update", json={}, headers={"X-Write-Key": refused["key"]}
        )
        assert response.status_code == 403
        assert f"{refused['kind']} key" in response.json()["detail"]
    assert (await client.get("/keys", headers=bearer(admin["key"]))).status_code == 200


async def test_the_list_shows_every_key_without_secrets(
    client: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    sites("shop")
    keys = [await made(client, body) for body, _ in KIND_AND_SITE]
    from_cli = make_key(database_url, "viewer", "from the cli", site="shop")
    listed = await client.get("/keys", headers=ADMIN)
    assert listed.status_code == 200
    entries = listed.json()["keys"]
    assert entries[:-1] == [{name: v for name, v in key.items() if name != "key"} for key in keys]
    assert (entries[-1]["id"], entries[-1]["kind"], entries[-1]["site"]) == (
        from_cli.id,
        "viewer",
        "shop",
    )
    for secret in [key["key"] for key in keys] + [from_cli.key]:
        assert secret not in listed.text
    assert "digest" not in listed.text


async def test_every_change_is_audited(
    client: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    sites("shop")
    viewer = await made(client, {"kind": "viewer", "site": "shop", "name": "owner"})
    for _ in range(2):  # revoking again changes nothing
        assert (await client.delete(f"/keys/{viewer['id']}", headers=ADMIN)).status_code == 200
    entries = audit_entries(database_url)
    assert [entry["action"] for entry in entries] == ["key_created", "key_revoked"]
    created, revoked = (entry["detail"] for entry in entries)
    assert created == {"key_id": viewer["id"], "kind": "viewer", "site": "shop", "name": "owner"}
    assert revoked == {"key_id": viewer["id"], "kind": "viewer", "site": "shop"}
    assert viewer["key"] not in repr(entries)


async def test_a_revoked_key_is_refused_at_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await made(client, {"kind": "admin", "name": "ops"})
    assert (await client.get("/keys", headers=bearer(admin["key"]))).status_code == 200
    revoked = await client.delete(f"/keys/{admin['id']}", headers=ADMIN)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert {name: v for name, v in revoked.json().items() if name != "revoked_at"} == {
        name: v for name, v in admin.items() if name not in {"key", "revoked_at"}
    }
    refused = await client.get("/keys", headers=bearer(admin["key"]))
    assert refused.status_code == 401
    assert refused.json() == {"detail": "this key was revoked"}
    again = await client.delete(f"/keys/{admin['id']}", headers=ADMIN)
    assert again.json() == revoked.json()
    [row] = key_rows(database_url)
    assert row["revoked_at"] is not None


@pytest.mark.parametrize(
    ("key_id", "status"), [("999", 404), ("abc", 422), ("0", 422), (str(10**19), 422)]
)
async def test_revoking_an_unknown_id_is_refused(
    client: httpx.AsyncClient, database_url: str, key_id: str, status: int
) -> None:
    kept = make_key(database_url, "write")
    response = await client.delete(f"/keys/{key_id}", headers=ADMIN)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json() == {"detail": f"no key has the id {key_id}"}
    else:
        assert ["path", "key_id"] in [error["loc"] for error in response.json()["detail"]]
    assert [row["revoked_at"] for row in key_rows(database_url)] == [None]
    assert kept.key not in response.text


REFUSED_BODIES = [
    ({"kind": "owner", "name": "x"}, "kind"),
    ({"kind": 5, "name": "x"}, "kind"),
    ({"name": "x"}, "kind"),
    ({"kind": "admin", "site": "shop", "name": "x"}, "site"),
    ({"kind": "admin", "site": "default", "name": "x"}, "site"),
    ({"kind": "viewer", "name": "x"}, "site"),
    ({"kind": "viewer", "site": None, "name": "x"}, "site"),
    ({"kind": "write", "site": "Shop!", "name": "x"}, "site"),
    ({"kind": "write", "site": "", "name": "x"}, "site"),
    ({"kind": "write", "site": "nope", "name": "x"}, "site"),
    ({"kind": "viewer", "site": "nope", "name": "x"}, "site"),
    ({"kind": "write"}, "name"),
    ({"kind": "write", "name": ""}, "name"),
    ({"kind": "write", "name": "   "}, "name"),
    ({"kind": "write", "name": "x" * 101}, "name"),
    ({"kind": "write", "name": "two\nlines"}, "name"),
    ({"kind": "write", "name": 7}, "name"),
    ({"kind": "write", "name": "x", "sites": ["shop"]}, "sites"),
]


@pytest.mark.parametrize(("body", "field"), REFUSED_BODIES)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, database_url: str, sites: MakeSite, body: Any, field: str
) -> None:
    sites("shop")
    response = await client.post("/keys", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert key_rows(database_url) == []
    assert audit_entries(database_url) == []


async def test_an_unknown_site_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/keys", json={"kind": "write", "site": "nope", "name": "x"}, headers=ADMIN
    )
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "site"]
    assert error["msg"] == "there is no site 'nope'"


@pytest.mark.parametrize(
    ("body", "status"), [(b"not json", 422), (b"[]", 422), (b'"write"', 422), (b"p\xff\xfe", 400)]
)
async def test_a_body_that_is_no_object_is_refused(
    client: httpx.AsyncClient, database_url: str, body: bytes, status: int
) -> None:
    response = await client.post(
        "/keys", content=body, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert key_rows(database_url) == []


async def test_a_key_is_made_even_if_the_reload_after_fails(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = services_of(app).keys

    def unavailable() -> None:
        raise OSError("database went away")

    monkeypatch.setattr(ring, "load", unavailable)
    response = await client.post("/keys", json={"kind": "admin", "name": "x"}, headers=ADMIN)
    assert response.status_code == 201
    [row] = key_rows(database_url)
    assert row["digest"] == digest(response.json()["key"])
