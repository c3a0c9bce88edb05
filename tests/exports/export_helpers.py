"""What the export tests share: events ingested, the export fetched, its CSV read."""

import csv
import io
from typing import Any

import httpx

from plugin_analytics.exports import formats
from tests.conftest import ADMIN
from tests.helpers import event

EXPORT = "/analytics/export"
SUMMARY = "/analytics/export/summary"
CSV_HEADER = ["event_id", "user_id", "session_id", "event_type", "timestamp", "message"]
NDJSON_FIELDS = [
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id",
    "properties", "timestamp", "received_at",
    "model", "input_tokens", "output_tokens", "latency_ms", "site",
]  # fmt: skip
METRICS = [
    "total_messages", "unique_users", "cta_clicks", "sessions", "user_messages",
    "assistant_messages", "converted_sessions", "conversion_rate", "messages_per_session",
]  # fmt: skip
SUMMARY_HEADER = ["start", "end", *METRICS]
# OWASP CSV injection: a cell starting with one of these is shown as text, not run.
TRIGGERS = ["=", "+", "-", "@", "\t", "\r", "'"]


# --- helpers -------------------------------------------------------------------------------


async def ingest(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    """Store `events` in order, up to 1,000 a request; every one must be new."""
    for start in range(0, len(events), 1000):
        chunk = events[start : start + 1000]
        response = await client.post("/client/batch", json={"events": chunk})
        assert response.status_code == 200, response.text
        assert response.json()["new"] == len(chunk)


async def get(client: httpx.AsyncClient, path: str, **params: str) -> httpx.Response:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response


async def export_rows(client: httpx.AsyncClient, **params: str) -> list[list[str]]:
    """The export's data rows as the csv module reads them (cells not restored)."""
    return csv_rows((await get(client, EXPORT, **params)).text)


async def raw_export(
    client: httpx.AsyncClient, accept_encoding: str, **params: str
) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would otherwise undo the gzip)."""
    headers = {**ADMIN, "Accept-Encoding": accept_encoding}
    async with client.stream("GET", EXPORT, params=params, headers=headers) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200, raw
    return response, raw


def csv_rows(text: str, header: list[str] = CSV_HEADER) -> list[list[str]]:
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert table[0] == header
    return table[1:]


def restored(rows: list[list[str]]) -> list[list[str]]:
    return [[formats.restore(cell) for cell in row] for row in rows]


def as_row(body: dict[str, Any]) -> list[str]:
    """The CSV row an event sent as `body` should come back as (timestamps sent in UTC)."""
    return [
        body["event_id"], body["user_id"], body["session_id"], body["event_type"],
        body["timestamp"], body.get("message", ""),
    ]  # fmt: skip


def ids(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows]


def file_name(response: httpx.Response) -> str:
    disposition = response.headers["content-disposition"]
    prefix = 'attachment; filename="'
    assert disposition.startswith(prefix)
    assert disposition.endswith('"')
    return disposition[len(prefix) : -1]


def click(**fields: Any) -> dict[str, Any]:
    """A CTA click body; unless `fields` give one, it has no message at all (stored empty)."""
    body = event(event_type="cta_click", **fields)
    if "message" not in fields:
        del body["message"]
    return body


def at(second: int) -> str:
    """A distinct UTC time for the n-th event of a test."""
    return f"2026-03-01T10:{second // 60:02d}:{second % 60:02d}Z"


ROUND_TRIP_MESSAGES = [
    "Hello, world, with commas,",
    'She said "hi" and then ""bye""',
    '"',
    "line one\nline two",
    "line one\r\nline two",
    "line one\rline two",
    "ends with newlines\r\n\n",
    "\nstarts with a newline",
    'mixed ,"\r\n", all at once',
    "Emoji 👋🏽 family 👨‍👩‍👧‍👦 flag 🇳🇴",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם, מה שלומך?",
    "mixed RTL: abc שלום 123 مرحبا",
    "你好\uff0c世界 こんにちは 안녕하세요",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0362\u0334",
    "zero width: a\u200bb\u200dc\ufeffd",
    "tab\tinside",
    "   leading and trailing spaces   ",
    ('Long, "quoted"\r\nmessage — ä 🙂 ' * 400)[:10_000],
]


def round_trip_events() -> list[dict[str, Any]]:
    events = [
        event(event_id=f"msg-{n:02d}", message=message, timestamp=at(n))
        for n, message in enumerate(ROUND_TRIP_MESSAGES)
    ]
    events += [
        # A CTA click need not say anything: its message is empty.
        click(event_id="click-empty", cta_id="book", timestamp="2026-03-01T11:00:00Z"),
        click(event_id="click-blank", message=" ", timestamp="2026-03-01T11:00:01Z"),
        # Ids with everything CSV must quote; microseconds shown only when non-zero.
        event(
            event_id='id, "quoted"\r\nnext',
            user_id="ユーザー, 1 🙂",
            session_id='סשן "1"\n',
            message="ids that need quoting",
            role="assistant",
            timestamp="2026-03-01T11:00:02.000001Z",
        ),
        event(
            event_id="micro",
            user_id=" spaced user ",
            session_id="s\r2",
            message="μs",
            timestamp="2026-03-01T11:00:03.123456Z",
        ),
    ]
    return events
