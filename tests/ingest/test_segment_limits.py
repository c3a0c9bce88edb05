"""Segment's tracking API: compressed bodies, and Segment's limits on calls, batches, messages."""

import gzip
import time
import zlib
from functools import cache
from typing import Any

import httpx
import pytest

from tests.helpers import stored_events
from tests.ingest.segment_helpers import (
    BATCH_LIMIT,
    CALL_LIMIT,
    GZIP,
    KB,
    assert_ok,
    batch_of,
    call,
    chat,
    dumps,
    event_ids,
    post,
    refused,
    summary,
    track,
)

pytestmark = pytest.mark.anyio

# --- compressed bodies ----------------------------------------------------------------------


@cache
def gzip_bomb() -> bytes:
    """10 MB of zeros, gzipped to about 10 KB."""
    return gzip.compress(b"\0" * (10 * 1000 * 1000), compresslevel=9)


async def test_gzip_bodies_are_accepted(client: httpx.AsyncClient) -> None:
    """Content-Encoding gzip (in any case, or x-gzip) on a call and on a batch, of several
    gzip members too; deflate as well."""
    assert_ok(await post(client, "/v1/track", gzip.compress(dumps(call(track(1)))), headers=GZIP))
    batch = dumps(batch_of(track(2), track(3)))
    members = gzip.compress(batch[:20]) + gzip.compress(batch[20:])
    assert_ok(await post(client, "/v1/batch", members, headers=GZIP))
    x_gzip = {"Content-Encoding": "X-GZIP"}
    assert_ok(await post(client, "/v1/t", gzip.compress(dumps(call(track(4)))), headers=x_gzip))
    deflate = {"Content-Encoding": "deflate"}
    assert_ok(await post(client, "/v1/t", zlib.compress(dumps(call(track(5)))), headers=deflate))
    assert await event_ids(client) == [f"m-{n}" for n in range(1, 6)]


def flipped(data: bytes, start: int, end: int) -> bytes:
    return data[:start] + bytes(byte ^ 0x5A for byte in data[start:end]) + data[end:]


ZIPPED = gzip.compress(dumps(call(track(1))))
ENCODING_FAULTS = {
    "not-gzip": (dumps(call(track(1))), GZIP, "not valid gzip data"),
    "corrupt": (b"\x1f\x8b\x08\x00" + b"\xff" * 40, GZIP, "not valid gzip data"),
    "bad-crc": (flipped(ZIPPED, len(ZIPPED) - 8, len(ZIPPED) - 4), GZIP, "not valid gzip data"),
    "truncated": (ZIPPED[: len(ZIPPED) // 2], GZIP, "the gzip body is cut short"),
    "trailer-missing": (ZIPPED[:-4], GZIP, "the gzip body is cut short"),
    "brotli": (dumps(call(track(1))), {"Content-Encoding": "br"}, "'br' is not supported"),
    "compress": (dumps(call(track(1))), {"Content-Encoding": "compress"}, "is not supported"),
}


@pytest.mark.parametrize(
    ("body", "headers", "fragment"), ENCODING_FAULTS.values(), ids=ENCODING_FAULTS
)
async def test_a_bad_encoding_is_400(
    client: httpx.AsyncClient,
    database_url: str,
    body: bytes,
    headers: dict[str, str],
    fragment: str,
) -> None:
    """Corrupt or cut gzip and unsupported encodings: 400 (Segment's code), nothing stored."""
    for path in ("/v1/track", "/v1/batch"):
        detail = refused(await post(client, path, body, headers=headers))
        assert isinstance(detail, str), detail
        assert fragment in detail, detail
    assert stored_events(database_url) == []


@pytest.mark.parametrize(("path", "limit"), [("/v1/t", CALL_LIMIT), ("/v1/b", BATCH_LIMIT)])
async def test_a_gzip_bomb_is_400_and_quick(
    client: httpx.AsyncClient, database_url: str, path: str, limit: int
) -> None:
    """A small body inflating to 10 MB is refused as soon as it passes the limit."""
    bomb = gzip_bomb()
    assert len(bomb) < 20 * KB
    started = time.monotonic()
    detail = refused(await post(client, path, bomb, headers=GZIP))
    assert time.monotonic() - started < 1.0
    assert detail == f"the body inflates to more than the limit of {limit} bytes"
    assert stored_events(database_url) == []


# --- Segment's limits -----------------------------------------------------------------------


def padded(body: Any, size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = dumps(body)
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def test_a_call_over_32_kb_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """32 KB a call, as sent and once inflated; a call of exactly 32 KB is stored."""
    big = call(track(1, properties={"blob": "x" * (CALL_LIMIT - 200)}))
    for path in ("/v1/track", "/v1/t", "/v1/identify"):
        detail = refused(await post(client, path, padded(big, CALL_LIMIT + 1)))
        assert detail == f"body is {CALL_LIMIT + 1} bytes; the limit is {CALL_LIMIT} bytes"
    zipped = gzip.compress(padded(big, CALL_LIMIT + 1))
    detail = refused(await post(client, "/v1/track", zipped, headers=GZIP))
    assert detail == f"the body inflates to more than the limit of {CALL_LIMIT} bytes"
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/track", padded(big, CALL_LIMIT)))
    assert await event_ids(client) == ["m-1"]


async def test_a_batch_over_500_kb_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """500 KB a batch; a batch of exactly 500 KB is stored."""
    blob = {"blob": "x" * (30 * KB)}
    batch = batch_of(*(track(n, properties=blob) for n in range(16)))
    detail = refused(await post(client, "/v1/batch", padded(batch, BATCH_LIMIT + 1)))
    assert detail == f"body is {BATCH_LIMIT + 1} bytes; the limit is {BATCH_LIMIT} bytes"
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/import", padded(batch, BATCH_LIMIT)))
    assert len(stored_events(database_url)) == 16


def many(count: int) -> dict[str, Any]:
    return batch_of(
        *(
            chat("message", "s-1", n % 60, message="hi") | {"messageId": f"{n}"}
            for n in range(count)
        )
    )


async def test_2501_messages_are_400_and_2500_are_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """2,500 messages a batch, Segment's limit, all stored and counted."""
    too_many = many(2501)
    assert len(dumps(too_many)) < BATCH_LIMIT
    assert refused(await post(client, "/v1/batch", too_many)) == [
        {"loc": ["batch"], "msg": "holds 2501 messages; the limit is 2500", "type": "value_error"}
    ]
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/batch", many(2500)))
    assert sorted(int(item["event_id"]) for item in stored_events(database_url)) == list(
        range(2500)
    )
    assert (await summary(client))["total_messages"] == 2500


async def test_a_message_over_32_kb_in_a_batch_is_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A batch may be over 32 KB, a message in it may not (counted in UTF-8): 400 naming it."""
    fine = track(1, properties={"blob": "x" * (CALL_LIMIT - 200)})
    big = track(2, properties={"blob": "é" * (CALL_LIMIT // 2)})
    size = len(dumps(big))
    assert size > CALL_LIMIT
    assert refused(await post(client, "/v1/batch", batch_of(fine, big, fine))) == [
        {"loc": ["batch", 1], "msg": f"is {size} bytes; the limit is 32 KB a message",
         "type": "value_error"}
    ]  # fmt: skip
    assert stored_events(database_url) == []
