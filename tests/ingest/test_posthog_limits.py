"""PostHog capture: the write key where the SDKs put it, and the limits on events and bodies."""

import gzip
import time
import zlib
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.access.helpers import make_key
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import stored_events
from tests.ingest.posthog_helpers import (
    FORM,
    MAX_BODY,
    MIB,
    accepted,
    chat,
    dumps,
    field_error,
    form,
    invalid,
    ph,
    post,
    refused,
    row,
    rows,
)

pytestmark = pytest.mark.anyio

# --- the write key ---------------------------------------------------------------------------


@pytest.fixture
async def keyed(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An app whose ingestion needs a write key (made as the CLI makes it), and the key."""
    key = make_key(database_url, "write").key
    async with client_for(settings) as http:
        yield http, key


async def test_write_key_where_the_sdks_send_it(
    keyed: tuple[httpx.AsyncClient, str], database_url: str
) -> None:
    """api_key, token or $token in the body, token in the first event's properties
    (posthog-js), or a Bearer header: each is accepted, and none is stored."""
    client, key = keyed
    accepted(await post(client, "/batch/", {"api_key": key, "batch": [ph(uuid="api_key")]}))
    accepted(await post(client, "/capture/", ph(uuid="token", token=key)))
    accepted(await post(client, "/capture/", ph(uuid="$token", **{"$token": key})))
    js = [ph(uuid="js-1", properties={"token": key}), ph(uuid="js-2", properties={"token": key})]
    gz = gzip.compress(dumps(js))
    accepted(
        await post(client, "/e/", gz, {"Content-Type": "text/plain"}, {"compression": "gzip-js"})
    )
    beacon = [ph(uuid="beacon", properties={"token": key})]
    accepted(await post(client, "/e/", form(beacon), FORM, {"compression": "base64"}))
    bearer = {"Authorization": f"Bearer {key}"}
    accepted(await post(client, "/i/v0/e/", [ph(uuid="bearer")], bearer))
    assert rows(database_url) == [
        row(uuid) for uuid in ("api_key", "token", "$token", "js-1", "js-2", "beacon", "bearer")
    ]


async def test_missing_or_wrong_write_key_is_401(
    keyed: tuple[httpx.AsyncClient, str], database_url: str
) -> None:
    """Without the key, with a wrong one, or with a wrong header beside a right body key:
    401 in PostHog's words, and nothing stored."""
    client, key = keyed
    missing = await post(client, "/batch", {"batch": [chat("m")]})
    body = refused(missing, 401, "invalid_api_key", "authentication_error")
    assert body == {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "detail": body["detail"],
    }
    assert body["detail"].startswith("a write key is required")
    assert missing.headers["www-authenticate"] == 'Basic realm="ingestion"'
    wrong = [
        await post(client, "/batch", {"api_key": "phc_wrong", "batch": [chat("w1")]}),
        await post(client, "/e", [ph(uuid="w2", properties={"token": "phc_wrong"})]),
        await post(client, "/e", [ph(uuid="w3")], {"Authorization": "Bearer phc_wrong"}),
        await post(client, "/e", [ph(uuid="w4", token=key)], {"Authorization": "Bearer phc_wrong"}),
    ]
    for response in wrong:
        body = refused(response, 401, "invalid_api_key", "authentication_error")
        assert body == {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "detail": "invalid write key",
        }
    assert stored_events(database_url) == []


async def test_admin_key_is_403(keyed: tuple[httpx.AsyncClient, str], database_url: str) -> None:
    """An admin key reads; it does not write, in the body or in a header."""
    client, _ = keyed
    for response in (
        await post(client, "/batch", {"api_key": ADMIN_KEY, "batch": [chat("a1")]}),
        await post(client, "/capture", chat("a2"), ADMIN),
    ):
        assert refused(response, 403, "invalid_api_key", "authentication_error") == {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "detail": "this is an admin key; ingestion takes a write key",
        }
    assert stored_events(database_url) == []


# --- limits ----------------------------------------------------------------------------------


def event_of_size(size: int, uuid: str = "big") -> dict[str, Any]:
    """A custom event whose compact JSON is exactly `size` bytes."""
    event = ph("big", uuid=uuid, properties={"blob": ""})
    event["properties"]["blob"] = "x" * (size - len(dumps(event)))
    assert len(dumps(event)) == size
    return event


async def test_event_over_1_mib_is_413(client: httpx.AsyncClient, database_url: str) -> None:
    """An event of exactly 1 MiB is stored; one byte more is 413, and nothing of its batch is
    stored."""
    too_big = await post(client, "/batch", {"batch": [ph(uuid="small"), event_of_size(MIB + 1)]})
    assert refused(too_big, 413, "payload_too_large", "validation_error") == {
        "type": "validation_error",
        "code": "payload_too_large",
        "detail": f"event 1 is {MIB + 1} bytes; the limit is {MIB} (1 MiB)",
    }
    assert stored_events(database_url) == []
    accepted(await post(client, "/capture", event_of_size(MIB)))
    [stored] = stored_events(database_url)
    assert stored["event_id"] == "big"
    assert stored["properties"] == event_of_size(MIB)["properties"]


async def test_bodies_over_the_native_limit_are_posthogs_to_take(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """PostHog's SDKs send batches of several MiB: a 3 MiB batch of 1 MiB events is stored
    (our own routes stop at 1 MiB)."""
    batch = [event_of_size(MIB - 100, f"e{n}") for n in range(3)]
    body = dumps({"api_key": "k", "batch": batch})
    assert len(body) > 3 * MIB - 300
    accepted(await post(client, "/batch", body))
    assert [stored["event_id"] for stored in stored_events(database_url)] == ["e0", "e1", "e2"]


async def test_raw_body_over_20_mib_is_413(client: httpx.AsyncClient, database_url: str) -> None:
    body = dumps([ph(uuid="x")]) + b" " * MAX_BODY
    response = await post(client, "/e", body)
    assert refused(response, 413, "payload_too_large", "validation_error")["detail"] == (
        f"body is {len(body)} bytes; the limit is {MAX_BODY} bytes"
    )
    assert stored_events(database_url) == []


async def test_inflated_body_of_20_mib_is_read_and_one_byte_more_is_413(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The 20 MiB limit holds after inflating too: exactly 20 MiB is read, one byte more
    refused."""
    text = dumps([ph(uuid="padded")])
    padded = text + b" " * (MAX_BODY - len(text))
    over = await post(
        client, "/e", gzip.compress(padded + b" ", 1), params={"compression": "gzip-js"}
    )
    assert refused(over, 413, "payload_too_large", "validation_error")["detail"] == (
        f"the body inflates to more than the limit of {MAX_BODY} bytes"
    )
    assert stored_events(database_url) == []
    accepted(await post(client, "/e", gzip.compress(padded, 1), params={"compression": "gzip-js"}))
    assert rows(database_url) == [row("padded")]


@cache
def gzip_bomb(inflated: int) -> bytes:
    """One gzip member of `inflated` zero bytes in about a thousandth of that: after a full
    flush each MiB of zeros compresses to the same bytes, so they are repeated. It has no end:
    a server inflating it whole would find it cut short (400), not too large (413)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(MIB)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + repeated * (inflated // MIB - 1)


BOMBS = {
    "one-member-2-gib": lambda: gzip_bomb(2048 * MIB),
    "1024-members": lambda: gzip.compress(bytes(MIB), 9) * 1024,
}


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize("how", ["content-encoding", "gzip-js", "magic-number"])
async def test_gzip_bomb_is_413_at_once(
    client: httpx.AsyncClient, database_url: str, make: Any, how: str
) -> None:
    """A small body inflating to gigabytes is refused once past 20 MiB, not inflated whole."""
    body = make()
    assert len(body) < 5 * MIB
    headers = {"Content-Encoding": "gzip"} if how == "content-encoding" else {}
    params = {"compression": "gzip-js"} if how == "gzip-js" else None
    started = time.perf_counter()
    response = await post(client, "/e", body, headers, params)
    elapsed = time.perf_counter() - started
    assert refused(response, 413, "payload_too_large", "validation_error")["detail"] == (
        f"the body inflates to more than the limit of {MAX_BODY} bytes"
    )
    assert elapsed < 1.0, elapsed
    assert stored_events(database_url) == []


async def test_10001_events_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """At most 10,000 events a request: 10,001 is refused whole, 10,000 stored."""
    events = [{"event": "e", "distinct_id": "u", "uuid": f"e{n}"} for n in range(10_001)]
    body = invalid(await post(client, "/batch", {"api_key": "k", "batch": events}))
    assert body["errors"] == [field_error([], "holds 10001 events; the limit is 10000")]
    assert body["detail"] == "holds 10001 events; the limit is 10000"
    assert stored_events(database_url) == []
    accepted(await post(client, "/e", events[:10_000]))
    assert [stored["event_id"] for stored in stored_events(database_url)] == [
        f"e{n}" for n in range(10_000)
    ]
