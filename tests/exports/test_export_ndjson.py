"""GET /analytics/export?format=ndjson: every field of every event, and the CSV corpus."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from tests.exports.export_helpers import (
    CSV_HEADER,
    EXPORT,
    NDJSON_FIELDS,
    as_row,
    click,
    file_name,
    get,
    ingest,
    round_trip_events,
)
from tests.helpers import NO_USAGE, event

pytestmark = pytest.mark.anyio

# --- 4. NDJSON -----------------------------------------------------------------------------

PROPERTIES = {
    "page": "/pricing?a=1&b=2",
    "count": 3,
    "big": 9007199254740993,
    "ratio": 0.1,
    "flag": True,
    "nothing": None,
    "nested": {"list": [1, "two", None, False, {"deep": "ü"}]},
    "emoji ✓": "👍",
    "=formula": "=1+2",
}


async def test_ndjson_has_every_field(client: httpx.AsyncClient) -> None:
    events = [
        event(
            event_id="q",
            message='=1+2, "quoted"\nline\u2028separator',
            properties=PROPERTIES,
            timestamp="2026-03-01T10:00:00Z",
        ),
        event(
            event_id="r",
            role="assistant",
            session_id="session-2",
            message="We do ship to Norway.",
            properties={},
            timestamp="2026-03-01T10:00:00.250000Z",
            model="gpt-4o-mini",
            input_tokens=812,
            output_tokens=41,
            latency_ms=930.5,
        ),
        click(
            event_id="click",
            cta_id="book-demo",
            user_id="user-2",
            timestamp="2026-03-01T10:00:01Z",
        ),
    ]
    before = datetime.now(UTC).replace(microsecond=0)
    await ingest(client, events)
    after = datetime.now(UTC)
    response = await get(client, EXPORT, format="ndjson")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert file_name(response) == "events_all.ndjson"
    text = response.text
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    for item in objects:
        assert list(item) == NDJSON_FIELDS
        received = item.pop("received_at")
        assert received.endswith("Z")
        assert before <= datetime.fromisoformat(received) <= after
    assert objects == [
        {
            "event_id": "q",
            "user_id": "user-1",
            "session_id": "session-1",
            "event_type": "message",
            "role": "user",
            "message": '=1+2, "quoted"\nline\u2028separator',
            "cta_id": None,
            "properties": PROPERTIES,
            "timestamp": "2026-03-01T10:00:00Z",
            **NO_USAGE,
            "site": "default",
        },
        {
            "event_id": "r",
            "user_id": "user-1",
            "session_id": "session-2",
            "event_type": "message",
            "role": "assistant",
            "message": "We do ship to Norway.",
            "cta_id": None,
            "properties": {},
            "timestamp": "2026-03-01T10:00:00.250000Z",
            "model": "gpt-4o-mini",
            "input_tokens": 812,
            "output_tokens": 41,
            "latency_ms": 930.5,
            "site": "default",
        },
        {
            "event_id": "click",
            "user_id": "user-2",
            "session_id": "session-1",
            "event_type": "cta_click",
            "role": "user",
            "message": "",
            "cta_id": "book-demo",
            "properties": None,
            "timestamp": "2026-03-01T10:00:01Z",
            **NO_USAGE,
            "site": "default",
        },
    ]


async def test_ndjson_round_trips_the_csv_corpus(client: httpx.AsyncClient) -> None:
    events = round_trip_events()
    await ingest(client, events)
    response = await get(client, EXPORT, format="ndjson", escape_formulas="true")
    objects = [json.loads(line) for line in response.text.split("\n")[:-1]]
    assert [[item[name] for name in CSV_HEADER] for item in objects] == [
        as_row(body) for body in events
    ]
    assert [item["role"] for item in objects] == [body.get("role", "user") for body in events]
