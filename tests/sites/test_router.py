"""/sites over HTTP on both databases: making, reading, changing and deleting sites, each refusal
with its status and the field at fault, and `default` shown as it is in force."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.access.helpers import audit_entries
from tests.conftest import ADMIN, client_for

pytestmark = pytest.mark.anyio

SHOP: dict[str, Any] = {
    "id": "shop-example",
    "name": "  Shop Example  ",
    "timezone": "Europe/Paris",
    "domains": ["https://Shop.Example/", "https://shop.example", "http://localhost:8080"],
    "report_recipients": ["Owner <owner@SHOP.example>", "team@shop.example", "team@shop.example"],
    "report_schedule": "30 7 * * 1",
    "retention_days": 90,
}


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/sites", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def refused_field(response: httpx.Response) -> list[Any]:
    """Where a 422 points: the one location its detail names."""
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return list(error["loc"])


async def test_a_site_is_stored_normalised_and_read_back(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    made = await create(client, **SHOP)
    assert made == {
        "id": "shop-example",
        "name": "Shop Example",
        "timezone": "Europe/Paris",
        "domains": ["https://shop.example", "http://localhost:8080"],
        "report_recipients": ["Owner <owner@shop.example>", "team@shop.example"],
        "report_schedule": "30 7 * * 1",
        "retention_days": 90,
        "created_at": made["created_at"],
    }
    created_at = datetime.fromisoformat(made["created_at"])
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC) + timedelta(seconds=1)
    read = await client.get("/sites/shop-example", headers=ADMIN)
    assert read.status_code == 200, read.text
    assert read.json() == made


async def test_what_a_new_site_leaves_out_takes_the_defaults(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    made = await create(client, id="blog", name="Blog")
    assert (made["timezone"], made["domains"], made["report_recipients"]) == ("UTC", [], [])
    assert made["report_schedule"] == settings.report_schedule
    assert made["retention_days"] is None


async def test_the_list_starts_with_default_then_goes_by_id(client: httpx.AsyncClient) -> None:
    for site_id in ("zeta", "alpha", "mid-1"):
        await create(client, id=site_id, name=site_id.title())
    listed = await client.get("/sites", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [site["id"] for site in listed.json()["sites"]] == ["default", "alpha", "mid-1", "zeta"]


async def test_default_shows_the_environment_until_it_sets_its_own(
    database_url: str, settings: Settings
) -> None:
    environment = settings.model_copy(
        update={
            "site_name": "Acme",
            "report_timezone": "Asia/Kolkata",
            "report_recipients": ["ops@acme.example"],
            "report_schedule": "0 9 * * fri",
        }
    )
    async with client_for(environment) as client:
        shown = (await client.get("/sites/default", headers=ADMIN)).json()
        assert (shown["name"], shown["timezone"]) == ("Acme", "Asia/Kolkata")
        assert (shown["report_recipients"], shown["report_schedule"]) == (
            ["ops@acme.example"],
            "0 9 * * fri",
        )
        own = {"name": "Acme Shop", "timezone": "UTC", "report_recipients": []}
        changed = await client.patch("/sites/default", json=own, headers=ADMIN)
        assert changed.status_code == 200, changed.text
        assert {field: changed.json()[field] for field in own} == own
        reset = {"name": None, "timezone": None, "report_recipients": None}
        back = await client.patch("/sites/default", json=reset, headers=ADMIN)
        assert back.json() == shown


async def test_a_change_touches_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    made = await create(client, **SHOP)
    changed = await client.patch(
        "/sites/shop-example",
        json={"name": "Shop", "domains": ["HTTPS://NEW.SHOP.EXAMPLE"], "retention_days": None},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    expected = made | {"name": "Shop", "domains": ["https://new.shop.example"]}
    assert changed.json() == expected | {"retention_days": None}
    unchanged = await client.patch("/sites/shop-example", json={}, headers=ADMIN)
    assert unchanged.json() == changed.json()
    nulls = {"timezone": None, "report_recipients": None, "report_schedule": None}
    reset = await client.patch("/sites/shop-example", json=nulls, headers=ADMIN)
    assert (reset.json()["timezone"], reset.json()["report_recipients"]) == ("UTC", [])


async def test_an_id_is_made_once(client: httpx.AsyncClient) -> None:
    made = await create(client, **SHOP)
    for site_id in ("shop-example", "default"):
        again = await client.post("/sites", json={"id": site_id, "name": "Again"}, headers=ADMIN)
        assert again.status_code == 409, again.text
        assert repr(site_id) in again.json()["detail"]
    assert (await client.get("/sites/shop-example", headers=ADMIN)).json() == made


async def test_an_id_cannot_change(client: httpx.AsyncClient) -> None:
    made = await create(client, **SHOP)
    for new_id in ("shop-2", "shop-example"):
        body = {"id": new_id, "name": "Renamed"}
        response = await client.patch("/sites/shop-example", json=body, headers=ADMIN)
        assert refused_field(response) == ["body", "id"]
        assert "fixed" in response.json()["detail"][0]["msg"]
    assert (await client.get("/sites/shop-example", headers=ADMIN)).json() == made
    assert (await client.get("/sites/shop-2", headers=ADMIN)).status_code == 404


# (the body's field at fault, its value): every rule of every field.
BAD_FIELDS: list[tuple[str, Any]] = [
    ("id", "Shop"),
    ("id", "-shop"),
    ("id", "shop_example"),
    ("id", "shop\n"),
    ("id", ""),
    ("id", "a" * 64),
    ("id", 12),
    ("name", ""),
    ("name", "   "),
    ("name", "Shop\nBcc: x@evil.example"),
    ("name", "Shop\u2028"),
    ("name", "x" * 101),
    ("timezone", "Mars/Olympus_Mons"),
    ("timezone", "../etc/passwd"),
    ("timezone", "Europe"),
    ("timezone", ""),
    ("domains", ["shop.example"]),
    ("domains", ["https://shop.example/path"]),
    ("domains", ["*"]),
    ("domains", ["ftp://shop.example"]),
    ("domains", ["https://shop.example:http"]),
    ("domains", ["https://user@shop.example"]),
    ("domains", "https://shop.example"),
    ("domains", [f"https://{n}.example" for n in range(101)]),
    ("report_recipients", ["not-an-address"]),
    ("report_recipients", ["a@shop.example\nBcc: x@evil.example"]),
    ("report_recipients", "a@shop.example"),
    ("report_schedule", "every monday"),
    ("report_schedule", "0 8 * *"),
    ("report_schedule", "0 8 1 * mon"),
    ("report_schedule", "0 25 * * *"),
    ("retention_days", 0),
    ("retention_days", 36_501),
    ("retention_days", "a month"),
    ("created_at", "2026-01-01T00:00:00Z"),
    ("num", 7),
    ("domain", ["https://shop.example"]),
]


async def test_bad_input_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    await create(client, id="kept", name="Kept")
    for field, value in BAD_FIELDS:
        body = {"id": "new-site", "name": "New", field: value}
        made = await client.post("/sites", json=body, headers=ADMIN)
        assert refused_field(made)[:2] == ["body", field], (field, value, made.text)
        if field != "id":
            changed = await client.patch("/sites/kept", json={field: value}, headers=ADMIN)
            assert refused_field(changed)[:2] == ["body", field], (field, value, changed.text)
    listed = (await client.get("/sites", headers=ADMIN)).json()["sites"]
    assert [site["id"] for site in listed] == ["default", "kept"]
    assert listed[1]["name"] == "Kept"


async def test_an_id_and_a_name_are_required(client: httpx.AsyncClient) -> None:
    for field in ("id", "name"):
        body = {"id": "new-site", "name": "New"}
        del body[field]
        assert refused_field(await client.post("/sites", json=body, headers=ADMIN)) == [
            "body",
            field,
        ]


async def test_domains_are_never_null(client: httpx.AsyncClient) -> None:
    await create(client, id="kept", name="Kept", domains=["https://kept.example"])
    for response in (
        await client.post("/sites", json={"id": "x", "name": "X", "domains": None}, headers=ADMIN),
        await client.patch("/sites/kept", json={"domains": None}, headers=ADMIN),
    ):
        assert refused_field(response) == ["body", "domains"]
    kept = (await client.get("/sites/kept", headers=ADMIN)).json()
    assert kept["domains"] == ["https://kept.example"]


async def test_an_unknown_site_is_not_found(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "X"} if method == "PATCH" else None
        response = await client.request(method, "/sites/nowhere", json=body, headers=ADMIN)
        assert response.status_code == 404, (method, response.text)
        assert response.json() == {"detail": "no site has the id 'nowhere'"}
        malformed = await client.request(method, "/sites/No%20Where", json=body, headers=ADMIN)
        assert refused_field(malformed) == ["path", "site_id"], method


async def test_default_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    response = await client.delete("/sites/default", headers=ADMIN)
    assert response.status_code == 409, response.text
    assert "'default' cannot be deleted" in response.json()["detail"]
    assert (await client.get("/sites/default", headers=ADMIN)).status_code == 200


async def test_a_deleted_site_is_gone(client: httpx.AsyncClient) -> None:
    await create(client, **SHOP)
    deleted = await client.delete("/sites/shop-example", headers=ADMIN)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["site"] == "shop-example"
    assert set(deleted.json()["deleted"].values()) == {0}
    assert "event" in deleted.json()["deleted"]
    assert (await client.get("/sites/shop-example", headers=ADMIN)).status_code == 404
    again = await client.delete("/sites/shop-example", headers=ADMIN)
    assert again.status_code == 404, again.text
    await create(client, id="shop-example", name="Made again")


async def test_every_route_needs_the_admin_key(client: httpx.AsyncClient) -> None:
    routes = [
        ("GET", "/sites"), ("POST", "/sites"), ("GET", "/sites/default"),
        ("PATCH", "/sites/default"), ("DELETE", "/sites/default"),
    ]  # fmt: skip
    wrong = {"Authorization": "Bearer not-the-admin-key-at-all"}
    for method, path in routes:
        body = {"id": "x", "name": "X"} if method == "POST" else {}
        for headers in ({}, wrong):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
    listed = await client.get("/sites", headers=ADMIN)
    assert [site["id"] for site in listed.json()["sites"]] == ["default"]


async def test_changes_are_audited_without_addresses(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await create(client, **SHOP)
    body = {"report_recipients": ["new-owner@shop.example"], "name": "Shop"}
    assert (await client.patch("/sites/shop-example", json=body, headers=ADMIN)).is_success
    entries = audit_entries(database_url)
    assert [(entry["action"], entry["rows"], entry["detail"]) for entry in entries] == [
        ("site_created", 1, {"site": "shop-example"}),
        ("site_updated", 1, {"site": "shop-example", "fields": ["name", "report_recipients"]}),
    ]
    assert "@" not in repr(entries)
