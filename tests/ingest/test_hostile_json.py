"""Hostile input on /client/update and /client/batch: bodies that are not JSON, content types."""

import json
from typing import Any

import httpx
import pytest

from tests.helpers import event, stored_events
from tests.ingest.hostile_helpers import (
    GOOD,
    ROUTES,
    as_batch,
    assert_names,
    assert_not_json,
    assert_refused,
    post,
    post_event_on_both_routes,
    with_field,
)

pytestmark = pytest.mark.anyio

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
