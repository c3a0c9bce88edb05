"""Segment's tracking API: write keys as the SDKs send them, other keys refused, and CORS."""

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from plugin_analytics.config import Settings, load_settings
from tests.access.helpers import make_key, revoke
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import stored_events
from tests.ingest.segment_helpers import (
    BASIC_CHALLENGE,
    GZIP,
    SITE,
    assert_ok,
    at,
    batch_of,
    call,
    dumps,
    event_ids,
    post,
    refused,
    row,
    stored,
    track,
)

pytestmark = pytest.mark.anyio

# --- write keys -----------------------------------------------------------------------------

Keyed = tuple[httpx.AsyncClient, str]


@pytest.fixture
async def keyed(settings: Settings, database_url: str) -> AsyncIterator[Keyed]:
    """An app whose ingestion needs a write key (made as `keys create` makes it), and the key."""
    key = make_key(database_url, "write").key
    async with client_for(settings) as http:
        yield http, key


WAYS = ["basic", "body", "batch-body"]


async def send_key(client: httpx.AsyncClient, key: str, way: str) -> httpx.Response:
    """One track sent with `key` as the Basic user name, or in the body of a call or a batch."""
    if way == "basic":
        return await post(client, "/v1/track", call(track(1)), auth=(key, ""))
    if way == "body":
        return await post(client, "/v1/track", {**call(track(1)), "writeKey": key})
    return await post(client, "/v1/batch", batch_of(track(1), writeKey=key))


async def test_a_write_key_as_basic_user_name_is_accepted(keyed: Keyed) -> None:
    """Segment's server SDKs send `writeKey:` as HTTP Basic credentials."""
    client, key = keyed
    assert_ok(await send_key(client, key, "basic"))
    assert_ok(await post(client, "/v1/batch", batch_of(track(2)), auth=(key, "")))
    assert await event_ids(client) == ["m-1", "m-2"]


async def test_a_write_key_in_the_body_is_accepted(keyed: Keyed) -> None:
    """analytics.js sends `writeKey` in the body: of a call or a batch, gzipped or not; it is
    not stored."""
    client, key = keyed
    assert_ok(await send_key(client, key, "body"))
    assert_ok(await post(client, "/v1/b", batch_of(track(2), writeKey=key)))
    zipped = gzip.compress(dumps({**call(track(3)), "writeKey": key}))
    assert_ok(await post(client, "/v1/t", zipped, headers=GZIP))
    assert await stored(client) == [row(f"m-{n}", "Clicked", None, at(n)) for n in (1, 2, 3)]


async def test_no_write_key_is_401(keyed: Keyed, database_url: str) -> None:
    """Once a write key exists, a call or batch without one is 401 with Segment's body and a
    Basic challenge; a batch of bad messages too, its contents unjudged."""
    client, _ = keyed
    for path, body in [
        ("/v1/track", call(track(1))),
        ("/v1/batch", batch_of(track(1))),
        ("/v1/batch", batch_of({"type": "nope"})),
    ]:
        response = await post(client, path, body)
        assert refused(response, 401).startswith("a write key is required")
        assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert stored_events(database_url) == []


@pytest.mark.parametrize("way", WAYS)
async def test_a_wrong_write_key_is_401(keyed: Keyed, database_url: str, way: str) -> None:
    response = await send_key(keyed[0], "wk_not-a-real-key", way)
    assert refused(response, 401) == "invalid write key"
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert stored_events(database_url) == []


async def test_a_revoked_write_key_is_401(settings: Settings, database_url: str) -> None:
    key = make_key(database_url, "write").key
    revoke(database_url, key)
    async with client_for(settings) as client:
        for way in WAYS:
            assert refused(await send_key(client, key, way), 401) == "this key was revoked"
    assert stored_events(database_url) == []


@pytest.mark.parametrize("way", WAYS)
async def test_the_admin_key_is_403(keyed: Keyed, database_url: str, way: str) -> None:
    """The admin key opens reading, not ingestion: 403 however it is sent."""
    client, _ = keyed
    detail = refused(await send_key(client, ADMIN_KEY, way), 403)
    assert detail == "this is an admin key; ingestion takes a write key"
    refused(await post(client, "/v1/track", call(track(1)), headers=ADMIN), 403)
    assert stored_events(database_url) == []


# --- CORS -----------------------------------------------------------------------------------


@pytest.fixture
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, cors_origins=SITE
    )
    async with client_for(settings) as http:
        yield http


@pytest.mark.parametrize("path", ["/v1/t", "/v1/batch"])
async def test_a_page_on_cors_origins_may_call_segment_paths(
    cors_client: httpx.AsyncClient, database_url: str, path: str
) -> None:
    """analytics.js on a CORS_ORIGINS page: the preflight allows POST with Content-Type and
    Authorization (the write key); another origin's fails; the page may read the answer."""
    preflight = {
        "Origin": SITE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    response = await cors_client.options(path, headers=preflight)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = set(response.headers["access-control-allow-headers"].lower().split(", "))
    assert {"content-type", "authorization", "content-encoding"} <= allowed
    other = await cors_client.options(path, headers={**preflight, "Origin": "https://evil.test"})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    body = call(track(1)) if path == "/v1/t" else batch_of(track(1))
    posted = await post(cors_client, path, body, headers={"Origin": SITE})
    assert_ok(posted)
    assert posted.headers["access-control-allow-origin"] == SITE
    assert [item["event_id"] for item in stored_events(database_url)] == ["m-1"]
