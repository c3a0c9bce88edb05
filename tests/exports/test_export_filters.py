"""GET /analytics/export: filters, order and file names, in CSV and NDJSON."""

import json

import httpx
import pytest

from tests.exports.export_helpers import (
    EXPORT,
    csv_rows,
    export_rows,
    file_name,
    get,
    ids,
    ingest,
)
from tests.helpers import event

pytestmark = pytest.mark.anyio

# --- 3. filters, order and file names -------------------------------------------------------

# Asia/Kolkata is UTC+05:30: local midnight of day D is 18:30 UTC on day D-1.
ODD_USER = "a+b&c=d/ä %20#?"
FILTER_EVENTS = {
    # name: (UTC time, user, event type)       Kolkata day / UTC day
    "c": ("2026-02-28T18:29:59.999999Z", "u1", "message"),  # 02-28 / 02-28
    "d": ("2026-02-28T18:30:00Z", "u2", "message"),  # 03-01 / 02-28
    "a": ("2026-03-01T18:29:59.999999Z", "u1", "cta_click"),  # 03-01 / 03-01
    "b": ("2026-03-01T18:30:00Z", "u2", "message"),  # 03-02 / 03-01
    "f": ("2026-03-02T18:29:59.999999Z", "u1", "message"),  # 03-02 / 03-02
    "e": ("2026-03-02T18:30:00Z", "u1", "message"),  # 03-03 / 03-02
    "g": ("2026-03-05T12:00:00Z", ODD_USER, "message"),  # 03-05 / 03-05
}


async def ingest_filter_events(client: httpx.AsyncClient) -> None:
    # Posted out of time order: the export must sort by event time.
    order = ["e", "a", "g", "c", "f", "b", "d"]
    await ingest(
        client,
        [
            event(
                event_id=name,
                timestamp=FILTER_EVENTS[name][0],
                user_id=FILTER_EVENTS[name][1],
                event_type=FILTER_EVENTS[name][2],
                message=f"event {name}",
            )
            for name in order
        ],
    )


FILTER_CASES = [
    ({}, ["c", "d", "a", "b", "f", "e", "g"], "events_all.csv"),
    (
        {"start_date": "2026-03-01", "end_date": "2026-03-01", "tz": "Asia/Kolkata"},
        ["d", "a"],
        "events_2026-03-01_to_2026-03-01.csv",
    ),
    (
        {"start_date": "2026-03-01", "end_date": "2026-03-01"},  # UTC by default
        ["a", "b"],
        "events_2026-03-01_to_2026-03-01.csv",
    ),
    (
        {"start_date": "2026-03-02", "tz": "Asia/Kolkata"},
        ["b", "f", "e", "g"],
        "events_from_2026-03-02.csv",
    ),
    (
        {"end_date": "2026-03-01", "tz": "Asia/Kolkata"},
        ["c", "d", "a"],
        "events_until_2026-03-01.csv",
    ),
    (
        {"start_date": "2026-03-01", "end_date": "2026-03-02", "tz": "Asia/Kolkata"},
        ["d", "a", "b", "f"],
        "events_2026-03-01_to_2026-03-02.csv",
    ),
    ({"event_type": "cta_click"}, ["a"], "events_all.csv"),
    ({"event_type": "message"}, ["c", "d", "b", "f", "e", "g"], "events_all.csv"),
    ({"event_type": "page_view"}, [], "events_all.csv"),
    ({"user_id": "u1"}, ["c", "a", "f", "e"], "events_all.csv"),
    ({"user_id": ODD_USER}, ["g"], "events_all.csv"),
    ({"user_id": "U1"}, [], "events_all.csv"),
    (
        {
            "start_date": "2026-03-01",
            "end_date": "2026-03-02",
            "tz": "Asia/Kolkata",
            "event_type": "message",
            "user_id": "u2",
        },
        ["d", "b"],
        "events_2026-03-01_to_2026-03-02.csv",
    ),
    (
        {
            "start_date": "2026-03-01",
            "end_date": "2026-03-02",
            "tz": "Asia/Kolkata",
            "event_type": "message",
            "user_id": "u1",
        },
        ["f"],
        "events_2026-03-01_to_2026-03-02.csv",
    ),
]


async def test_filters_and_file_names(client: httpx.AsyncClient) -> None:
    await ingest_filter_events(client)
    for params, expected, name in FILTER_CASES:
        response = await get(client, EXPORT, **params)
        assert ids(csv_rows(response.text)) == expected, params
        assert file_name(response) == name, params
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["vary"] == "Accept-Encoding"


async def test_ndjson_file_names_and_filters(client: httpx.AsyncClient) -> None:
    await ingest_filter_events(client)
    for params, expected, name in FILTER_CASES:
        response = await get(client, EXPORT, format="ndjson", **params)
        objects = [json.loads(line) for line in response.text.splitlines()]
        assert [item["event_id"] for item in objects] == expected, params
        assert file_name(response) == name.removesuffix(".csv") + ".ndjson", params


async def test_ties_keep_insertion_order(client: httpx.AsyncClient) -> None:
    same = "2026-03-01T10:00:00Z"
    # Separate requests, so that insertion order is unambiguous; ids sort the other way.
    for body in [
        event(event_id="tie-z", timestamp=same),
        event(event_id="tie-m", timestamp=same),
        event(event_id="tie-a", timestamp=same),
        event(event_id="later", timestamp="2026-03-01T10:00:00.000001Z"),
        event(event_id="earlier", timestamp="2026-03-01T09:59:59.999999Z"),
    ]:
        await ingest(client, [body])
    assert ids(await export_rows(client)) == ["earlier", "tie-z", "tie-m", "tie-a", "later"]
