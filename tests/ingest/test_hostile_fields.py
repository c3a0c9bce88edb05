"""Hostile input on /client/update and /client/batch: fields refused by name, nothing stored."""

from typing import Any

import httpx
import pytest

from tests.helpers import event
from tests.ingest.hostile_helpers import (
    assert_names,
    assert_refused,
    assert_still_stores,
    dumps,
    post_event_on_both_routes,
    with_field,
)

pytestmark = pytest.mark.anyio

# --- fields the product refuses by name ------------------------------------------------------

NUL = "must not contain NUL"
ISO = "ISO 8601"
FIELD_REFUSALS: list[Any] = [
    ("message", "hello\x00world", NUL),
    ("user_id", "\x00", NUL),
    ("user_id", "admin\x00' OR 1=1 --", NUL),
    ("session_id", "s\x00", NUL),
    ("event_id", "\x00e", NUL),
    ("cta_id", "book\x00", NUL),
    ("properties", {"k\x00": "v"}, NUL),
    ("properties", {"k": "v\x00"}, NUL),
    ("properties", {"a": [{"b": {"\x00": 1}}]}, NUL),
    ("timestamp", "2026-01-01'; DROP TABLE event;--", "valid datetime"),
    ("timestamp", "2026-01-01T00:00:00Z; DELETE FROM event", "valid datetime"),
    ("timestamp", "1 OR 1=1", ISO),
    ("timestamp", "' OR '1'='1", ISO),
    ("timestamp", "20260101", ISO),
    ("timestamp", "0000-00-00", "valid datetime"),
    ("timestamp", "9999-12-31T23:59:59-23:59", "outside the years 1 to 9999"),
    ("timestamp", "2026-02-30T00:00:00Z", "day value is outside"),
    ("timestamp", "2026-01-01T24:00:01Z", "valid datetime"),
    ("timestamp", "2026-01-01T00:00:00\x00Z", "valid datetime"),
    ("timestamp", "\uff12\uff10\uff12\uff16-01-01T00:00:00Z", "valid datetime"),  # fullwidth 2026
    ("timestamp", "2026-01-01T00:00:00Z" + "0" * 100_000, "valid datetime"),
    ("timestamp", "x" * 100_000, ISO),
    ("timestamp", 20260101, ISO),
    ("timestamp", 1.7e9, ISO),
    ("timestamp", True, ISO),
    ("timestamp", ["2026-01-01T00:00:00Z"], ISO),
    ("timestamp", {"$date": "2026-01-01T00:00:00Z"}, ISO),
    ("event_type", "message'; DROP TABLE event;--", "'message' or 'cta_click'"),
    ("event_type", "MESSAGE", "'message' or 'cta_click'"),
    ("role", "user' OR '1'='1", "'user' or 'assistant'"),
    ("role", "assistant\x00", "'user' or 'assistant'"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), FIELD_REFUSALS)
async def test_bad_field_is_422_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, database_url: str, field: str, value: Any, fragment: str
) -> None:
    single, batch = await post_event_on_both_routes(client, dumps(event(**{field: value})))
    assert_names(assert_refused(single, 422), ["body", field], fragment)
    assert_names(assert_refused(batch, 422), ["body", "events", 1, field], fragment)
    await assert_still_stores(client, database_url)


LONE_SURROGATES = [
    ("user_id", b'"\\ud800"'),
    ("session_id", b'"\\udc00\\ud800"'),  # a pair the wrong way round
    ("message", b'"a\\ud800b"'),
    ("message", b'"\\udbff"'),
    ("cta_id", b'"x\\udfff"'),
    ("properties", b'{"\\ud800":1}'),
    ("properties", b'{"k":["\\udc00"]}'),
]


@pytest.mark.parametrize(("field", "raw"), LONE_SURROGATES)
async def test_lone_surrogate_is_refused(
    client: httpx.AsyncClient, database_url: str, field: str, raw: bytes
) -> None:
    for response in await post_event_on_both_routes(client, with_field(field, raw)):
        assert_refused(response, 400, 422)
    await assert_still_stores(client, database_url)


@pytest.mark.parametrize(("field", "raw"), LONE_SURROGATES)
async def test_lone_surrogate_is_422_naming_the_field(
    client: httpx.AsyncClient, field: str, raw: bytes
) -> None:
    single, batch = await post_event_on_both_routes(client, with_field(field, raw))
    assert_names(assert_refused(single, 422), ["body", field])
    assert_names(assert_refused(batch, 422), ["body", "events", 1, field])
