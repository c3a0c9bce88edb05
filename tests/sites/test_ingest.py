"""Ingestion files events under a site: the write key's on every route (ours, Segment's,
PostHog's); while ingestion is open the one the body's `site` or X-Site names, else `default`.
An unknown site is 422 and a key's request naming another site 403, with nothing stored; the
same event_id on two sites is two events."""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table, site_table
from plugin_analytics.services import services_of
from tests.access.helpers import make_key, make_site
from tests.conftest import ADMIN

pytestmark = pytest.mark.anyio


def stored(database_url: str) -> list[tuple[str, str, str]]:
    """(site id, event_id, user_id) of every stored event, in insertion order."""
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(site_table.c.id, event_table.c.event_id, event_table.c.user_id)
                .join(site_table, site_table.c.num == event_table.c.site_num)
                .order_by(event_table.c.id)
            )
            return [(row[0], row[1], row[2]) for row in rows]
    finally:
        engine.dispose()


async def send(
    client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(path, json=body, headers=headers or {})


def message(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id, "user_id": "ana", "session_id": "s1", "event_type": "message",
        "message": "Hi", **fields,
    }  # fmt: skip


async def test_open_ingestion_goes_where_the_request_says(
    client: httpx.AsyncClient, database_url: str
) -> None:
    make_site(database_url, "shop")
    sent: list[tuple[str, tuple[Any, ...]]] = [
        ("/client/update", (message("a"),)),
        ("/client/update", (message("b", site="shop"),)),
        ("/client/batch", ({"events": [message("c")], "site": "shop"},)),
        ("/client/batch", ({"events": [message("d", site="shop")]},)),
        ("/client/update", (message("e"), {"X-Site": "shop"})),
        ("/client/batch", ({"events": [message("a")], "site": "default"},)),  # a repeat
    ]
    for path, request in sent:
        response = await send(client, path, *request)
        assert response.status_code == 200, (path, request, response.text)
    assert stored(database_url) == [
        ("default", "a", "ana"),
        ("shop", "b", "ana"),
        ("shop", "c", "ana"),
        ("shop", "d", "ana"),
        ("shop", "e", "ana"),
    ]
    # The same event_id on another site is another event; on its own site, a duplicate.
    again = await client.post("/client/batch", json={"events": [message("a")], "site": "shop"})
    assert again.json()["new"] == 1
    repeat = await client.post("/client/batch", json={"events": [message("a")], "site": "shop"})
    assert repeat.json()["duplicates"] == 1
    assert stored(database_url)[-1] == ("shop", "a", "ana")


async def test_an_unknown_or_mixed_site_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    make_site(database_url, "shop")
    refused: list[tuple[str, tuple[Any, ...], list[Any]]] = [
        ("/client/update", (message("a", site="nowhere"),), ["body", "site"]),
        (
            "/client/batch",
            ({"events": [message("b")], "site": "nowhere"},),
            ["body", "site"],
        ),
        (
            "/client/update",
            (message("c"), {"X-Site": "nowhere"}),
            ["header", "x-site"],
        ),
        (
            "/client/batch",
            ({"events": [message("d"), message("e", site="shop")], "site": "default"},),
            ["body", "events", 1, "site"],
        ),
        ("/client/update", (message("f", site="Not A Slug"),), ["body", "site"]),
        ("/client/update", (message("g", site=7),), ["body", "site"]),
    ]
    for path, request, loc in refused:
        response = await send(client, path, *request)
        assert response.status_code == 422, (request, response.text)
        assert [error["loc"] for error in response.json()["detail"]] == [loc], response.text
    assert stored(database_url) == []


async def test_a_write_key_files_events_under_its_site_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    make_site(database_url, "shop")
    key = make_key(database_url, "write", site="shop").key
    services_of(app).keys.load()
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    track: dict[str, Any] = {
        "type": "track",
        "event": "message",
        "userId": "ana",
        "messageId": "seg",
    }
    track["properties"] = {"session_id": "s1", "message": "Hi", "role": "user"}
    posthog: dict[str, Any] = {
        "api_key": key,
        "event": "message",
        "distinct_id": "ana",
        "uuid": "ph",
    }
    posthog["properties"] = {"$session_id": "s1", "message": "Hi"}
    routes: list[tuple[str, tuple[Any, ...]]] = [
        ("/client/update", (message("own"), {"X-Write-Key": key})),
        ("/client/update", (message("named", site="shop", write_key=key),)),
        ("/v1/track", (track, basic)),
        ("/capture", (posthog,)),
    ]
    for path, request in routes:
        response = await send(client, path, *request)
        assert response.status_code == 200, (path, response.text)
    assert [(site, event_id) for site, event_id, _ in stored(database_url)] == [
        ("shop", "own"),
        ("shop", "named"),
        ("shop", "seg"),
        ("shop", "ph"),
    ]


async def test_a_write_key_naming_another_site_is_403(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    make_site(database_url, "shop")
    key = make_key(database_url, "write", site="shop").key
    services_of(app).keys.load()
    for request in (
        (message("a", site="default"), {"X-Write-Key": key}),
        (message("b"), {"X-Write-Key": key, "X-Site": "default"}),
    ):
        response = await send(client, "/client/update", *request)
        assert response.status_code == 403, response.text
        assert "belongs to another site" in response.json()["detail"]
    unknown = await client.post(
        "/client/update", json=message("c", site="nowhere"), headers={"X-Write-Key": key}
    )
    assert unknown.status_code == 422, unknown.text
    assert stored(database_url) == []


async def test_a_sites_own_retention_refuses_what_it_would_delete(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    make_site(database_url, "shop")
    changed = await client.patch("/sites/shop", json={"retention_days": 30}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    services_of(app).keys.load()
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    refused = await send(client, "/client/update", message("old", site="shop", timestamp=old))
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "timestamp"]
    assert (
        error["msg"] == "is older than the site's retention_days (30 days), so it would not be kept"
    )
    kept = await send(client, "/client/update", message("old", timestamp=old))  # to default
    assert kept.status_code == 200, kept.text
    assert stored(database_url) == [("default", "old", "ana")]
