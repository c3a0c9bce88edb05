"""Bad input on /client/update and /client/batch: a clear 4xx naming the problem, nothing stored."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

MISSING = object()
MIB = 1024 * 1024
NUL_MSG = "must not contain NUL"


def hours_from_now(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != field}


def assert_invalid(response: httpx.Response, loc: list[Any], msg: str, kind: str) -> None:
    """A 422 whose detail is FastAPI's list of {loc, msg, type}, one entry naming `loc`."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    assert all(set(error) == {"loc", "msg", "type"} for error in detail)
    [error] = [error for error in detail if error["loc"] == loc]
    assert msg in error["msg"]
    assert error["type"] == kind


BAD_FIELDS: list[Any] = [
    # Out of range once converted to UTC (they overflowed with a 500 before).
    ("timestamp", "0001-01-01T00:00:00+05:00", "outside the years 1 to 9999", "value_error"),
    ("timestamp", "9999-12-31T23:00:00-05:00", "outside the years 1 to 9999", "value_error"),
    ("user_id", MISSING, "Field required", "missing"),
    ("session_id", MISSING, "Field required", "missing"),
    ("event_type", MISSING, "Field required", "missing"),
    ("user_id", 42, "valid string", "string_type"),
    ("session_id", "", "at least 1 character", "string_too_short"),
    ("session_id", "   ", "should match pattern", "string_pattern_mismatch"),
    ("session_id", "\t\n", "should match pattern", "string_pattern_mismatch"),
    ("event_type", "page_view", "'message' or 'cta_click'", "literal_error"),
    ("role", "system", "'user' or 'assistant'", "literal_error"),
    ("user_id", "u" * 257, "at most 256 characters", "string_too_long"),
    ("event_id", "e" * 257, "at most 256 characters", "string_too_long"),
    ("cta_id", "", "at least 1 character", "string_too_short"),
    # 10,923 three-byte chars: 32,769 bytes, though far fewer than 32,768 characters.
    ("message", "€" * 10923, "is 32769 bytes; the limit is 32768 bytes", "value_error"),
    ("message", "é" * 16384 + "!", "is 32769 bytes; the limit is 32768 bytes", "value_error"),
    ("message", "", "must not be empty for event_type 'message'", "value_error"),
    ("message", "  \n ", "must not be empty for event_type 'message'", "value_error"),
    ("properties", {"k": "x" * 16377}, "is 16385 bytes; the limit is 16384", "value_error"),
    ("properties", {"k": "ü" * 8189}, "is 16386 bytes; the limit is 16384", "value_error"),
    ("properties", [1, 2], "Input should be an object", "dict_type"),
    ("properties", "page=/pricing", "Input should be an object", "dict_type"),
    ("properties", 5, "Input should be an object", "dict_type"),
    ("timestamp", "yesterday", "ISO 8601", "value_error"),
    ("timestamp", "2026-13-45", "month value is outside", "datetime_from_date_parsing"),
    ("timestamp", 1700000000, "ISO 8601", "value_error"),
    # Digit strings would otherwise be read as Unix times (20260101 -> 1970-08-23).
    ("timestamp", "1700000000", "ISO 8601", "value_error"),
    ("timestamp", "20260101", "ISO 8601", "value_error"),
    ("timestamp", "1; DROP TABLE event", "ISO 8601", "value_error"),
    ("timestamp", "2026-01-01T00:00:00+25:00", "valid datetime", "datetime_from_date_parsing"),
    pytest.param(
        "timestamp",
        hours_from_now(25),
        "more than 24 hours in the future",
        "value_error",
        id="timestamp-25h-ahead",
    ),
    ("user_id", "user\x00", NUL_MSG, "value_error"),
    ("session_id", "\x00", NUL_MSG, "value_error"),
    ("event_id", "e\x00", NUL_MSG, "value_error"),
    ("cta_id", "c\x00", NUL_MSG, "value_error"),
    ("message", "hello\x00world", NUL_MSG, "value_error"),
    ("properties", {"page": "/a\x00"}, NUL_MSG, "value_error"),
    ("properties", {"nested": {"list": ["ok", "\x00"]}}, NUL_MSG, "value_error"),
    ("properties", {"key\x00": "v"}, NUL_MSG, "value_error"),
]


@pytest.mark.parametrize(("field", "value", "msg", "kind"), BAD_FIELDS)
async def test_bad_field_is_refused_on_both_routes(
    client: httpx.AsyncClient, database_url: str, field: str, value: Any, msg: str, kind: str
) -> None:
    bad = without(event(), field) if value is MISSING else event(**{field: value})
    response = await client.post("/client/update", json=bad)
    assert_invalid(response, ["body", field], msg, kind)
    response = await client.post("/client/batch", json={"events": [event(), bad]})
    assert_invalid(response, ["body", "events", 1, field], msg, kind)
    assert stored_events(database_url) == []


ACCEPTED = [
    ("user_id", "u" * 256, "u" * 256),
    ("event_id", "e" * 256, "e" * 256),
    ("message", "€" * 10922 + "ab", "€" * 10922 + "ab"),  # exactly 32,768 bytes
    ("message", "é" * 16384, "é" * 16384),
    ("properties", {"k": "x" * 16376}, {"k": "x" * 16376}),  # exactly 16,384 bytes
    # The text backslash-u-0000 is not a NUL character.
    ("properties", {"path": "C:\\u0000"}, {"path": "C:\\u0000"}),
    ("timestamp", "2001-09-09T01:46:40Z", datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)),
    ("timestamp", "2026-03-29T01:30:00.5+02:00", datetime(2026, 3, 28, 23, 30, 0, 500000, UTC)),
]


async def test_message_event_without_message_is_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # A CTA click may leave `message` out, so only the whole event can be blamed for it.
    bad = without(event(), "message")
    msg = "message is required for event_type 'message'"
    assert_invalid(await client.post("/client/update", json=bad), ["body"], msg, "value_error")
    response = await client.post("/client/batch", json={"events": [event(), bad]})
    assert_invalid(response, ["body", "events", 1], msg, "value_error")
    assert stored_events(database_url) == []


@pytest.mark.parametrize(("field", "value", "stored"), ACCEPTED)
async def test_values_at_the_limits_are_stored(
    client: httpx.AsyncClient, database_url: str, field: str, value: Any, stored: Any
) -> None:
    response = await client.post("/client/update", json=event(**{field: value}))
    assert response.status_code == 200, response.text
    [row] = stored_events(database_url)
    column = "occurred_at" if field == "timestamp" else field
    assert row[column] == stored


async def test_timestamp_23_hours_ahead_is_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=23)
    response = await client.post("/client/update", json=event(timestamp=ahead.isoformat()))
    assert response.status_code == 200, response.text
    assert [row["occurred_at"] for row in stored_events(database_url)] == [ahead]


async def test_cta_click_may_have_an_empty_message(
    client: httpx.AsyncClient, database_url: str
) -> None:
    click = without(event(event_type="cta_click", cta_id="book-demo"), "message")
    assert (await client.post("/client/update", json=click)).status_code == 200
    assert (await client.post("/client/update", json={**click, "message": ""})).status_code == 200
    rows = stored_events(database_url)
    assert [(row["event_type"], row["message"], row["cta_id"]) for row in rows] == [
        ("cta_click", "", "book-demo"),
        ("cta_click", "", "book-demo"),
    ]


NOT_JSON = [
    b"",
    b"  \n",
    b"{",
    b'{"user_id": "user-1", "session_id": "s',
    b"{'user_id': 'user-1'}",
    b'{"user_id": "\xff", "session_id": "s", "event_type": "message", "message": "m"}',
]


@pytest.mark.parametrize("route", ["/client/update", "/client/batch"])
async def test_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    headers = {"Content-Type": "application/json"}
    for body in NOT_JSON:
        response = await client.post(route, content=body, headers=headers)
        assert response.status_code == 400, body
        detail = response.json()["detail"]
        assert ("empty" if not body.strip() else "not valid JSON") in detail
    assert stored_events(database_url) == []


@pytest.mark.parametrize("route", ["/client/update", "/client/batch"])
async def test_json_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    headers = {"Content-Type": "application/json"}
    for body in (b'[{"user_id": "user-1"}]', b'"user-1"', b"7", b"null", b"true"):
        response = await client.post(route, content=body, headers=headers)
        assert_invalid(response, ["body"], "Input should be an object", "dict_type")
    assert stored_events(database_url) == []


async def test_batch_of_1000_is_stored_and_1001_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    events = [event(event_id=f"e{i}") for i in range(1001)]
    response = await client.post("/client/batch", json={"events": events})
    assert_invalid(response, ["body", "events"], "at most 1000 items", "too_long")
    assert stored_events(database_url) == []
    response = await client.post("/client/batch", json={"events": events[:1000]})
    assert response.json() == {"status": "success", "received": 1000, "new": 1000, "duplicates": 0}
    assert len(stored_events(database_url)) == 1000


@pytest.mark.parametrize(
    ("body", "msg", "kind"),
    [
        ({"events": []}, "at least 1 item", "too_short"),
        ({}, "Field required", "missing"),
        ({"events": event()}, "valid array", "list_type"),
    ],
)
async def test_batch_without_a_list_of_events_is_refused(
    client: httpx.AsyncClient, database_url: str, body: Any, msg: str, kind: str
) -> None:
    assert_invalid(await client.post("/client/batch", json=body), ["body", "events"], msg, kind)
    assert stored_events(database_url) == []


async def test_one_bad_event_refuses_the_whole_batch(
    client: httpx.AsyncClient, database_url: str
) -> None:
    events = [event(event_id=f"e{i}") for i in range(6)]
    events[3] = without(events[3], "user_id")
    events[5]["role"] = "robot"
    response = await client.post("/client/batch", json={"events": events})
    assert_invalid(response, ["body", "events", 3, "user_id"], "Field required", "missing")
    assert [error["loc"] for error in response.json()["detail"]] == [
        ["body", "events", 3, "user_id"],
        ["body", "events", 5, "role"],
    ]
    assert stored_events(database_url) == []


def padded_event(size: int) -> bytes:
    """A valid event body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = httpx.Request("POST", "/", json=event()).content
    return body + b" " * (size - len(body))


async def chunks(body: bytes, sent: list[int], chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), chunk):
        sent.append(len(body[start : start + chunk]))
        yield body[start : start + chunk]


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_of_exactly_1_mib_is_accepted(
    client: httpx.AsyncClient, database_url: str, chunked: bool
) -> None:
    body = padded_event(MIB)
    content = chunks(body, []) if chunked else body
    response = await client.post("/client/update", content=content)
    assert response.status_code == 200, response.text
    assert len(stored_events(database_url)) == 1


async def test_body_over_1_mib_with_content_length_is_413(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await client.post("/client/update", content=padded_event(MIB + 1))
    assert response.request.headers["content-length"] == str(MIB + 1)
    assert response.status_code == 413
    assert response.json() == {"detail": f"body is {MIB + 1} bytes; the limit is {MIB} bytes"}
    assert stored_events(database_url) == []


async def test_declared_length_over_1_mib_is_refused_before_reading(
    client: httpx.AsyncClient, database_url: str
) -> None:
    sent: list[int] = []
    headers = {"Content-Length": str(50 * MIB)}
    content = chunks(padded_event(50 * MIB), sent)
    response = await client.post("/client/update", content=content, headers=headers)
    assert response.status_code == 413
    assert sum(sent) < MIB
    assert stored_events(database_url) == []


@pytest.mark.parametrize("route", ["/client/update", "/client/batch"])
async def test_chunked_body_over_1_mib_is_413_without_reading_it_all(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    sent: list[int] = []
    response = await client.post(route, content=chunks(padded_event(50 * MIB), sent))
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"detail": f"body is larger than the limit of {MIB} bytes"}
    assert MIB < sum(sent) <= MIB + 64 * 1024
    assert stored_events(database_url) == []


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"12 ", b"0x10", b"\xb2"])
async def test_non_numeric_content_length_is_400(
    client: httpx.AsyncClient, database_url: str, length: bytes
) -> None:
    body = padded_event(200)
    headers = {b"Content-Length": length, b"Content-Type": b"application/json"}
    response = await client.post("/client/update", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "Content-Length must be a whole number"}
    assert stored_events(database_url) == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_properties_that_are_not_json_numbers_are_refused(
    client: httpx.AsyncClient, database_url: str, number: str
) -> None:
    # Python's JSON reader takes these; PostgreSQL's jsonb and SQLite's JSON functions do not.
    good = b'{"user_id": "u", "session_id": "s", "event_type": "message", "message": "m"}'
    bad = good[:-1] + b', "properties": {"score": ' + number.encode() + b"}}"
    response = await client.post("/client/update", content=bad)
    if response.status_code == 400:  # the JSON parser itself may refuse it
        assert "not valid JSON" in response.json()["detail"]
    else:
        assert_invalid(response, ["body", "properties"], "NaN or Infinity", "value_error")
    batch = b'{"events": [' + good + b", " + bad + b"]}"
    assert (await client.post("/client/batch", content=batch)).status_code in (400, 422)
    assert stored_events(database_url) == []
