"""Hostile input on POST /client/update and /client/batch, on SQLite and PostgreSQL.

Whatever a client sends, a refusal is a 4xx whose JSON `detail` shows no traceback, and nothing
of the request is stored (a batch with one bad event stores none of it); what is accepted is
stored and read back exactly as sent, through GET /users/{user_id}/history and the CSV export.
"""

import csv
import io
import json
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.conftest import ADMIN, client_for
from tests.helpers import event, stored_events
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio

ROUTES = ["/client/update", "/client/batch"]
MIB = 1024 * 1024
LIMIT = 4096  # max_body_bytes for the size tests: small, so that they stay fast
DEEP = 10_000


def dumps(value: Any) -> bytes:
    """JSON as a client may send it; ASCII escapes, so lone surrogates survive as \\udXXX."""
    return json.dumps(value, separators=(",", ":")).encode()


GOOD = dumps(event())


def as_batch(*bodies: bytes) -> bytes:
    """A batch of raw event bodies, spliced in as they are."""
    return b'{"events":[' + b",".join(bodies) + b"]}"


def with_field(field: str, raw: bytes) -> bytes:
    """A valid event whose `field` is the raw JSON text `raw`."""
    return dumps(event(**{field: "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', raw)


def assert_refused(response: httpx.Response, *statuses: int) -> Any:
    """One of `statuses` (all 4xx), answered as JSON {"detail": ...} without a traceback."""
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert all(400 <= status < 500 for status in statuses)
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text and 'File "' not in response.text
    detail = response.json()["detail"]
    assert detail
    return detail


def assert_names(detail: Any, loc: list[Any], fragment: str = "") -> None:
    """A 422 detail (a list of {loc, msg, type}) blaming `loc`, its msg holding `fragment`."""
    assert isinstance(detail, list), detail
    messages = [error["msg"] for error in detail if error["loc"] == loc]
    assert messages and fragment in messages[0], detail


def assert_not_json(detail: Any) -> None:
    assert isinstance(detail, str)
    assert "not valid JSON" in detail or "empty" in detail, detail


async def post(client: httpx.AsyncClient, route: str, body: bytes) -> httpx.Response:
    return await client.post(route, content=body, headers={"Content-Type": "application/json"})


async def post_event_on_both_routes(
    client: httpx.AsyncClient, event_body: bytes
) -> tuple[httpx.Response, httpx.Response]:
    """`event_body` alone, then as the second event of a batch behind a valid one."""
    single = await post(client, "/client/update", event_body)
    return single, await post(client, "/client/batch", as_batch(GOOD, event_body))


async def assert_still_stores(client: httpx.AsyncClient, database_url: str) -> None:
    """Nothing was stored, and the event table still takes a valid event."""
    assert stored_events(database_url) == []
    assert (await post(client, "/client/update", GOOD)).status_code == 200
    assert [row["user_id"] for row in stored_events(database_url)] == ["user-1"]


# --- sizes ---------------------------------------------------------------------------------


@pytest.fixture
async def small_limit(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"max_body_bytes": LIMIT})) as http:
        yield http


def padded(route: str, size: int) -> bytes:
    """A valid body for `route` of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = GOOD if route == "/client/update" else as_batch(GOOD)
    return body + b" " * (size - len(body))


async def chunks(body: bytes, sent: list[int], size: int = 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        sent.append(len(body[start : start + size]))
        yield body[start : start + size]


async def send(
    client: httpx.AsyncClient, route: str, body: bytes, mode: str, sent: list[int]
) -> httpx.Response:
    """`body` with a true Content-Length, with none, chunked, or streamed under a lying
    Content-Length of 100; `sent` counts the bytes the app pulled from a stream."""
    content = chunks(body, sent) if mode in ("chunked", "lying-length") else body
    request = client.build_request("POST", route, content=content)
    if mode == "no-length":
        del request.headers["Content-Length"]
    if mode == "lying-length":
        del request.headers["Transfer-Encoding"]
        request.headers["Content-Length"] = "100"
    if mode == "chunked":
        assert request.headers["Transfer-Encoding"] == "chunked"
    assert ("Content-Length" in request.headers) == (mode not in ("no-length", "chunked"))
    return await client.send(request)


@pytest.mark.parametrize("mode", ["content-length", "no-length", "chunked", "lying-length"])
@pytest.mark.parametrize("route", ROUTES)
async def test_body_over_the_limit_is_413(
    small_limit: httpx.AsyncClient, database_url: str, route: str, mode: str
) -> None:
    sent: list[int] = []
    response = await send(small_limit, route, padded(route, 64 * LIMIT), mode, sent)
    assert "limit" in assert_refused(response, 413)
    if sent:  # streamed: reading stopped at the first chunk past the limit
        assert sum(sent) <= LIMIT + 1024
    assert stored_events(database_url) == []


@pytest.mark.parametrize("mode", ["content-length", "no-length", "chunked"])
@pytest.mark.parametrize("route", ROUTES)
async def test_body_at_the_limit_is_stored_and_one_byte_more_is_413(
    small_limit: httpx.AsyncClient, database_url: str, route: str, mode: str
) -> None:
    response = await send(small_limit, route, padded(route, LIMIT + 1), mode, [])
    assert_refused(response, 413)
    assert stored_events(database_url) == []
    response = await send(small_limit, route, padded(route, LIMIT), mode, [])
    assert response.status_code == 200, response.text
    assert len(stored_events(database_url)) == 1


@pytest.mark.parametrize("route", ROUTES)
async def test_default_limit_without_content_length_is_413(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    response = await send(client, route, padded(route, MIB + 1), "no-length", [])
    assert assert_refused(response, 413) == f"body is larger than the limit of {MIB} bytes"
    assert stored_events(database_url) == []


@pytest.mark.parametrize(
    "length", [b"", b"+76", b" 76", b"76,76", b"7.6e1", b"1_000", b"0b1", "\u0667\u0666".encode()]
)
async def test_content_length_that_is_not_a_number_is_400(
    client: httpx.AsyncClient, database_url: str, length: bytes
) -> None:
    headers = {b"Content-Length": length, b"Content-Type": b"application/json"}
    for route in ROUTES:
        response = await client.post(route, content=padded(route, 200), headers=headers)
        assert assert_refused(response, 400) == "Content-Length must be a whole number"
    assert stored_events(database_url) == []


# --- bodies that are not JSON ----------------------------------------------------------------

MALFORMED = {
    "empty": b"",
    "whitespace": b" \r\n\t",
    "open-brace": b"{",
    "close-brace": b"}",
    "extra-brace": GOOD + b"}",
    "trailing-comma": GOOD[:-1] + b",}",
    "comment": b"// hi\n" + GOOD,
    "single-quotes": GOOD.replace(b'"', b"'"),
    "unquoted-keys": b"{user_id:1}",
    "leading-zero": with_field("properties", b'{"a":01}'),
    "bare-fraction": with_field("properties", b'{"a":.5}'),
    "plus-sign": with_field("properties", b'{"a":+1}'),
    "hex-number": with_field("properties", b'{"a":0x10}'),
    "undefined": with_field("properties", b'{"a":undefined}'),
    "truncated-literal": with_field("properties", b'{"a":tru}'),
    "raw-tab-in-string": with_field("message", b'"a\tb"'),
    "raw-newline-in-string": with_field("message", b'"a\nb"'),
    "raw-nul-byte-in-string": with_field("message", b'"a\x00b"'),
    "raw-nul-byte": b"\x00",
    "bad-escape": with_field("message", b'"\\x41"'),
    "short-unicode-escape": with_field("message", b'"\\u12"'),
    "two-objects": GOOD + GOOD,
    "trailing-garbage": GOOD + b"garbage",
    "utf8-bom": b"\xef\xbb\xbf" + GOOD,
    "utf16": GOOD.decode().encode("utf-16"),
    "utf32": GOOD.decode().encode("utf-32"),
    "form-encoded": b"user_id=user-1&session_id=session-1&event_type=message&message=hi",
    "xml": b"<event><user_id>user-1</user_id></event>",
}

INVALID_UTF8 = {
    "ff-byte": b"\xff",
    "lone-continuation": b"\x80",
    "bad-continuation": b"\xc3\x28",
    "cut-3-byte-sequence": b"\xe2\x82",
    "overlong-slash": b"\xc0\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "above-u10ffff": b"\xf4\x90\x80\x80",
    "latin-1-e-acute": b"caf\xe9",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    # As the whole body of each route, and in a batch behind a valid event.
    for response in (
        await post(client, "/client/batch", body),
        *await post_event_on_both_routes(client, body),
    ):
        assert_not_json(assert_refused(response, 400))
    assert stored_events(database_url) == []


@pytest.mark.parametrize("raw", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
async def test_invalid_utf8_is_400(
    client: httpx.AsyncClient, database_url: str, raw: bytes
) -> None:
    text = b'"' + raw + b'"'
    for body in (with_field("message", text), with_field("properties", b"{" + text + b":1}")):
        for response in await post_event_on_both_routes(client, body):
            assert_not_json(assert_refused(response, 400))
        # Declaring another charset changes nothing: JSON is UTF-8 (RFC 8259).
        headers = {"Content-Type": "application/json; charset=latin-1"}
        response = await client.post("/client/update", content=body, headers=headers)
        assert_not_json(assert_refused(response, 400))
    assert stored_events(database_url) == []


def valid_event_text() -> bytes:
    """A valid event with every field, non-ASCII text and nested properties."""
    full = event(
        event_id="evt-ü",
        role="assistant",
        cta_id="book",
        timestamp="2026-05-04T10:01:00Z",
        message="Où est 😀 — שלום?",
        properties={"page": "/p", "tags": ["a", {"b": [1, 2.5, None, True]}]},
    )
    return json.dumps(full, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("route", ROUTES)
async def test_json_cut_anywhere_is_400(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    full = valid_event_text() if route == "/client/update" else as_batch(GOOD, valid_event_text())
    for cut in range(len(full)):  # cuts inside multi-byte characters included
        response = await post(client, route, full[:cut])
        assert_not_json(assert_refused(response, 400))
    assert stored_events(database_url) == []
    assert (await post(client, route, full)).status_code == 200  # the whole of it is valid


NOT_OBJECTS = [b"[]", b"[" + GOOD + b"]", b'"user-1"', b"0", b"-1.5e3", b"null", b"true"]


@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_json_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    for route in ROUTES:
        detail = assert_refused(await post(client, route, body), 422)
        assert [error["type"] for error in detail] == ["dict_type"]
        assert_names(detail, ["body"])
    batch = await post(client, "/client/batch", as_batch(GOOD, body))
    assert [error["loc"] for error in assert_refused(batch, 422)] == [["body", "events", 1]]
    assert stored_events(database_url) == []


# A parser may stop at its depth or number limit (400) or the schema may refuse (422): either,
# as long as it is a clean refusal.
PARSER_LIMITS = {
    "arrays-as-body": b"[" * DEEP + b"]" * DEEP,
    "objects-as-body": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "arrays-in-properties": with_field("properties", b'{"a":' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "objects-in-properties": with_field("properties", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    "5000-digit-number-in-properties": with_field("properties", b'{"n":1' + b"0" * 5000 + b"}"),
    "900000-digit-user-id": with_field("user_id", b"9" * 900_000),
    "huge-exponent-in-properties": with_field("properties", b'{"n":1e999999999999}'),
}


@pytest.mark.parametrize("body", PARSER_LIMITS.values(), ids=PARSER_LIMITS.keys())
async def test_depth_and_number_limits_are_clean_refusals(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    for response in (
        await post(client, "/client/batch", body),
        *await post_event_on_both_routes(client, body),
    ):
        assert_refused(response, 400, 422)
    assert stored_events(database_url) == []


def numbers(count: int) -> bytes:
    return b"[" + b",".join([b"0"] * count) + b"]"


async def test_batch_of_1001_events_is_422(client: httpx.AsyncClient, database_url: str) -> None:
    events = as_batch(*[dumps(event(event_id=f"e{i}")) for i in range(1001)])
    detail = assert_refused(await post(client, "/client/batch", events), 422)
    assert_names(detail, ["body", "events"], "at most 1000 items")
    assert stored_events(database_url) == []


async def test_batch_of_300000_numbers_is_422_with_a_short_answer(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await post(client, "/client/batch", b'{"events":' + numbers(300_000) + b"}")
    assert_names(assert_refused(response, 422), ["body", "events"], "at most 1000 items")
    assert len(response.content) < 1024  # not one error per item
    assert stored_events(database_url) == []


HUGE_FIELDS = {
    "500000-numbers": (b'{"a":' + numbers(500_000) + b"}", "properties"),
    "80000-keys": (b"{" + b",".join(b'"k%d":0' % i for i in range(80_000)) + b"}", "properties"),
    "900-kb-string": (b'{"a":"' + b"x" * 900_000 + b'"}', "properties"),
    "900-kb-message": (b'"' + b"\\u00e9" * 150_000 + b'"', "message"),
}


@pytest.mark.parametrize(("raw", "field"), HUGE_FIELDS.values(), ids=HUGE_FIELDS.keys())
async def test_huge_values_within_the_body_limit_are_422(
    client: httpx.AsyncClient, database_url: str, raw: bytes, field: str
) -> None:
    body = with_field(field, raw)
    assert len(body) < MIB
    single, batch = await post_event_on_both_routes(client, body)
    assert_names(assert_refused(single, 422), ["body", field], "the limit is")
    assert_names(assert_refused(batch, 422), ["body", "events", 1, field], "the limit is")
    assert stored_events(database_url) == []


async def test_a_million_numbers_in_properties_is_422(
    settings: Settings, database_url: str
) -> None:
    body = with_field("properties", b'{"a":' + numbers(1_000_000) + b"}")
    raised = settings.model_copy(update={"max_body_bytes": 3 * MIB})
    async with client_for(raised) as client:
        single, batch = await post_event_on_both_routes(client, body)
    assert_names(assert_refused(single, 422), ["body", "properties"], "the limit is 16384")
    assert_names(assert_refused(batch, 422), ["body", "events", 1, "properties"], "the limit is")
    assert stored_events(database_url) == []


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


# --- content types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/json; charset=utf-8"],
)
@pytest.mark.parametrize("route", ROUTES)
async def test_json_is_accepted_whatever_the_content_type_says(
    client: httpx.AsyncClient, database_url: str, route: str, content_type: str | None
) -> None:
    # sendBeacon sends text/plain, so that a browser needs no CORS preflight.
    headers = {"Content-Type": content_type} if content_type else {}
    body = GOOD if route == "/client/update" else as_batch(GOOD)
    response = await client.post(route, content=body, headers=headers)
    assert response.request.headers.get("content-type") == content_type
    assert response.status_code == 200, response.text
    assert len(stored_events(database_url)) == 1


FORM_FIELDS = {key: str(value) for key, value in event().items()}
FORMS: dict[str, dict[str, Any]] = {
    "form-encoded": {"data": FORM_FIELDS},
    "form-encoded-json-field": {"data": {"json": GOOD.decode()}},
    "multipart-fields": {"data": FORM_FIELDS, "files": {"f": ("f.txt", b"x", "text/plain")}},
    "multipart-json-file": {"files": {"event": ("event.json", GOOD, "application/json")}},
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize("route", ROUTES)
async def test_form_and_multipart_bodies_are_400(
    client: httpx.AsyncClient, database_url: str, route: str, form: dict[str, Any]
) -> None:
    response = await client.post(route, **form)
    assert response.request.headers["content-type"].startswith(("application/x-www", "multipart"))
    assert_not_json(assert_refused(response, 400))
    assert stored_events(database_url) == []


# --- what is accepted is read back exactly -----------------------------------------------------

HOSTILE_TEXT = {
    "emoji": "😀🎉 ok",
    "zwj-family": "👨\u200d👩\u200d👧\u200d👦",
    "zwj-rainbow-flag": "🏳\ufe0f\u200d🌈",
    "skin-tone": "👍🏽",
    "regional-flags": "🇳🇴🇸🇦",
    "combining-stack": "e\u0301\u0302\u0303\u0304",
    "zalgo": "Z\u0351\u036b\u0343a\u0306\u0310l\u0351g\u0310o\u0489",
    "decomposed-a-ring": "A\u030a",  # must not be normalised to U+00C5
    "precomposed-a-ring": "\u00c5",
    "arabic": "مرحبا بالعالم",
    "hebrew-niqqud": "שָׁלוֹם עוֹלָם",
    "rtl-override": "\u202egnp.exe",
    "bidi-isolates-and-marks": "a\u2067\u05d0\u05d1\u2069b\u200f\u200e",
    "math-bold-fraktur": "\U0001d573\U0001d58a\U0001d591\U0001d591\U0001d594",
    "cjk-extension-b": "𠜎𠜱𡃁",
    "plane-14-and-16": "\U000e0001\U0010fffd",
    "bom-and-zero-width": "\ufeffzero\u200bwidth",
    "line-separators": "one\u2028two\u2029three",
    "noncharacters": "\uffff\ufffe\U0001fffe",
    "controls": "tab\tcr\r\x1b[31mred\x1b[0m\x7f\x01\x85",
    "line-feed": "two\nlines",
    "csv-quoting": 'say "hi", then\r\nleave',
    "sql-drop": "'; DROP TABLE event;--",
    "sql-or": "1 OR 1=1",
    "sql-quote-or": "' OR '1'='1",
    "sql-union": "x' UNION SELECT event_id, user_id FROM event --",
    "like-wildcards": "%_%",
    "backslashes": "\\'\\\"\\\\",
    "placeholders": "%s $1 :user_id ? {0}",
}


CSV_HEADER = ["event_id", "user_id", "session_id", "event_type", "timestamp", "message"]


def at(minute: int) -> str:
    return f"2026-05-04T10:{minute:02d}:00Z"


def sent_pair(text: str) -> list[dict[str, Any]]:
    """A message and a CTA click with `text` in every text field, the ids included."""
    common = {"user_id": text, "session_id": text, "role": "user"}
    properties = {text: text, "list": [text, {"nested": text}]}
    return [
        {**common, "event_id": text, "event_type": "message", "message": text, "cta_id": None,
         "properties": properties, "timestamp": at(1)},
        {**common, "event_id": "b:" + text, "event_type": "cta_click", "message": text,
         "cta_id": text, "properties": None, "timestamp": at(2)},
    ]  # fmt: skip


def csv_bytes(rows: list[list[str]]) -> bytes:
    """CSV as the export writes it (RFC 4180, CRLF), to compare byte for byte."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def csv_row(sent: dict[str, Any]) -> list[str]:
    return [sent[key] for key in CSV_HEADER]


async def export(client: httpx.AsyncClient, **params: str) -> bytes:
    response = await client.get(
        "/analytics/export", params={"escape_formulas": "false", **params}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return response.content


async def ingest_pair(client: httpx.AsyncClient, text: str) -> list[dict[str, Any]]:
    """A decoy user's event, then `sent_pair(text)`: the message as raw UTF-8 the way
    sendBeacon posts it, the click with ASCII escapes (surrogate pairs for 4-byte characters)."""
    sent = sent_pair(text)
    raw = json.dumps(sent[0], ensure_ascii=False).encode()
    for route, body, headers in (
        ("/client/batch", as_batch(dumps(DECOY)), {}),
        ("/client/update", raw, {"Content-Type": "text/plain"}),
        ("/client/batch", as_batch(dumps(sent[1])), {}),
    ):
        response = await client.post(route, content=body, headers=headers)
        assert response.status_code == 200, response.text
    return sent


DECOY = event(user_id="decoy", session_id="decoy", event_id="decoy", timestamp=at(0))


async def assert_csv_export_exact(client: httpx.AsyncClient, sent: list[dict[str, Any]]) -> None:
    """The user's own export and the whole export, byte for byte (formulas left raw)."""
    rows = [csv_row(item) for item in sent]
    assert await export(client, user_id=sent[0]["user_id"]) == csv_bytes([CSV_HEADER, *rows])
    decoy = ["decoy", "decoy", "decoy", "message", at(0), DECOY["message"]]
    assert await export(client) == csv_bytes([CSV_HEADER, decoy, *rows])


@pytest.mark.parametrize(
    "text",
    [pytest.param(text, id=name) for name, text in HOSTILE_TEXT.items()],
)
async def test_text_is_read_back_exact_in_the_export_and_the_history(
    client: httpx.AsyncClient, text: str
) -> None:
    sent = await ingest_pair(client, text)
    await assert_csv_export_exact(client, sent)
    response = await client.get(f"/users/{quote(text, safe='')}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    history = response.json()
    assert (history["user_id"], history["next_cursor"]) == (text, None)
    [session] = history["sessions"]
    assert session["session_id"] == text
    read = [{k: v for k, v in item.items() if k != "received_at"} for item in session["events"]]
    assert read == sent


DEEP_OK = json.loads('{"a":' * 60 + "[" * 60 + "1" + "]" * 60 + "}" * 60)
ODD_NUMBERS = {"big-int": 10**4000, "tiny": 1.5e-300, "tenth": 0.1, "int": 7, "float": 7.0}
FLOATS = {"exp-300": 1e300, "max-float": 1.7976931348623157e308, "exp-16": 1e16, "minus-0": -0.0}


async def history_properties(client: httpx.AsyncClient) -> Any:
    response = await client.get("/users/user-1/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["sessions"][0]["events"][0]["properties"]


async def test_deep_and_odd_properties_read_back_identical(client: httpx.AsyncClient) -> None:
    properties = {"deep": DEEP_OK, **ODD_NUMBERS}
    response = await post(client, "/client/update", dumps(event(properties=properties)))
    assert response.status_code == 200, response.text
    read = await history_properties(client)
    assert read == properties
    assert [repr(read[key]) for key in ODD_NUMBERS] == [repr(n) for n in ODD_NUMBERS.values()]


async def test_large_floats_in_properties_keep_their_value(client: httpx.AsyncClient) -> None:
    # JSON numbers are decimals. SQLite gives these back as the floats sent; PostgreSQL's jsonb
    # keeps them as exact decimals and writes them out in full (1e16 -> 10000000000000000,
    # -0.0 -> 0): the same values, spelt differently (README, Privacy and data).
    response = await post(client, "/client/update", dumps(event(properties=FLOATS)))
    assert response.status_code == 200, response.text
    read = await history_properties(client)
    assert read.keys() == FLOATS.keys()
    assert {key: Decimal(repr(value)) for key, value in read.items()} == {
        key: Decimal(repr(value)) for key, value in FLOATS.items()
    }


# --- the real server: framing lies that only a socket can tell -----------------------------


def exchange(port: int, request: bytes, *, close_early: bool = False) -> bytes:
    """Send raw bytes, read the answer until the server closes (b"" if it answers nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if close_early:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


HEAD = b"POST /client/update HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
FRAMING_LIES = {  # what the request is, and the status it must get
    "length-shorter-than-body": HEAD + b"Content-Length: 20\r\n\r\n" + GOOD,
    "length-and-chunked": HEAD + b"Content-Length: %d\r\n" % len(GOOD) + CHUNKED + b"\r\n"
    + b"%x\r\n" % len(GOOD) + GOOD + b"\r\n0\r\n\r\n",
    "two-lengths": HEAD + b"Content-Length: %d\r\nContent-Length: 20\r\n\r\n" % len(GOOD) + GOOD,
    "negative-length": HEAD + b"Content-Length: -1\r\n\r\n" + GOOD,
    "chunk-shorter-than-data": HEAD + CHUNKED + b"\r\n10\r\n" + GOOD + b"\r\n0\r\n\r\n",
    "chunk-size-overflow": HEAD + CHUNKED + b"\r\nffffffffffffffffffff\r\n" + GOOD,
    "length-over-the-limit": HEAD + b"Content-Length: %d\r\n\r\n" % (50 * MIB) + GOOD,
}  # fmt: skip


@pytest.mark.slow
def test_lying_framing_on_a_real_server_stores_nothing(database_url: str) -> None:
    with ServerProcess(database_url) as server:
        for name, request in FRAMING_LIES.items():
            head, _, body = exchange(server.port, request).partition(b"\r\n\r\n")
            status = b"413" if name == "length-over-the-limit" else b"400"
            assert head.startswith(b"HTTP/1.1 " + status + b" "), (name, head)
            assert b"Traceback" not in body and b'File "' not in body, name
        # More bytes promised than sent, then the client goes: nothing to store.
        request = HEAD + b"Content-Length: 500\r\n\r\n" + GOOD
        answer = exchange(server.port, request, close_early=True)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
        assert stored_events(database_url) == []
        answer = exchange(server.port, HEAD + b"Content-Length: %d\r\n\r\n" % len(GOOD) + GOOD)
        assert answer.startswith(b"HTTP/1.1 200 ")
    assert len(stored_events(database_url)) == 1
