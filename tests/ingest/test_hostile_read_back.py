"""Hostile input on /client/update and /client/batch: what is accepted reads back exactly."""

import csv
import io
import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import event
from tests.ingest.hostile_helpers import (
    as_batch,
    dumps,
    post,
)

pytestmark = pytest.mark.anyio

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
