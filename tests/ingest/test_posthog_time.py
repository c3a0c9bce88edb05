"""PostHog capture: the time rules (offset, sent_at, `_`, $ignore_sent_at) and times refused."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import stored_events
from tests.ingest.posthog_helpers import (
    CLIENT_TIME,
    accepted,
    exported,
    field_error,
    invalid,
    iso,
    ms,
    ph,
    post,
    stored_times,
)

pytestmark = pytest.mark.anyio

# --- time ------------------------------------------------------------------------------------


async def test_offset_is_ms_before_receipt(client: httpx.AsyncClient, database_url: str) -> None:
    """offset wins over timestamp and sent_at: the event happened offset ms before receipt."""
    events = [
        ph(uuid="o1", offset=2500),
        ph(uuid="o2", offset=0, timestamp=iso(CLIENT_TIME), sent_at=iso(CLIENT_TIME)),
        ph(uuid="o3", offset=-1000),
    ]
    accepted(await post(client, "/e", events))
    assert [occurred - received for occurred, received in stored_times(database_url)] == [
        timedelta(milliseconds=-2500),
        timedelta(0),
        timedelta(seconds=1),
    ]


async def test_sent_at_corrects_the_client_clock(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """With sent_at (the batch's, or the event's own, which wins), the time is
    received - (sent_at - timestamp): a client clock years off is cancelled out."""
    body = {
        "api_key": "k",
        "sent_at": iso(CLIENT_TIME + timedelta(seconds=5)),
        "batch": [
            ph(uuid="batch-sent-at", timestamp=iso(CLIENT_TIME)),
            ph(
                uuid="own-sent-at",
                timestamp=iso(CLIENT_TIME),
                sent_at=iso(CLIENT_TIME + timedelta(milliseconds=1250)),
            ),
            ph(uuid="no-timestamp"),
        ],
    }
    accepted(await post(client, "/batch", body))
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=5),
        timedelta(milliseconds=1250),
        timedelta(0),
    ]


async def test_sent_at_of_a_single_event(client: httpx.AsyncClient, database_url: str) -> None:
    """A single event's own sent_at corrects its timestamp; a timestamp with an offset is the
    same instant."""
    event = ph(
        uuid="single",
        timestamp="2001-02-03T06:05:06.789+02:00",
        sent_at=iso(CLIENT_TIME + timedelta(minutes=1)),
    )
    accepted(await post(client, "/capture", event))
    [(occurred, received)] = stored_times(database_url)
    assert received - occurred == timedelta(minutes=1)


async def test_client_clock_days_ahead_is_accepted_once_corrected(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A timestamp 3 days ahead is refused alone, but with a sent_at showing the same skew it
    is an event from 2 s ago."""
    ahead = datetime.now(UTC) + timedelta(days=3)
    alone = invalid(await post(client, "/capture", ph(uuid="a", timestamp=iso(ahead))))
    assert alone["errors"] == [field_error(["timestamp"], "is more than 24 hours in the future")]
    event = ph(uuid="b", timestamp=iso(ahead), sent_at=iso(ahead + timedelta(seconds=2)))
    accepted(await post(client, "/capture", event))
    [(occurred, received)] = stored_times(database_url)
    assert received - occurred == timedelta(seconds=2)


async def test_underscore_query_parameter_is_sent_at(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """posthog-js's `_` (ms since the epoch when it sent) is sent_at for a list of events;
    a sent_at in the body wins over it."""
    sent = str(ms(CLIENT_TIME + timedelta(seconds=7)))
    events = [ph(uuid="u1", timestamp=iso(CLIENT_TIME))]
    accepted(await post(client, "/e/", events, params={"_": sent, "ver": "1.200.0"}))
    body = {"batch": [ph(uuid="u2", timestamp=iso(CLIENT_TIME))], "sent_at": iso(CLIENT_TIME)}
    accepted(await post(client, "/batch", body, params={"_": sent}))
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=7),
        timedelta(0),
    ]


async def test_ignore_sent_at_keeps_the_timestamp(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """$ignore_sent_at: true stores the timestamp as sent (a backfill)."""
    event = ph(
        uuid="backfill",
        timestamp="2024-06-01T12:00:00.250Z",
        properties={"$ignore_sent_at": True},
    )
    accepted(await post(client, "/batch", {"batch": [event], "sent_at": iso(CLIENT_TIME)}))
    [stored] = stored_events(database_url)
    assert stored["occurred_at"] == datetime(2024, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert stored["properties"] == {"$ignore_sent_at": True}


async def test_timestamp_alone_is_kept_and_no_time_is_receipt(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Without offset or sent_at the timestamp is stored as sent (UTC if it names no zone);
    without any time, the event happened when it was received."""
    before = datetime.now(UTC)
    events = [
        ph(uuid="z", timestamp="2024-06-01T12:00:00Z"),
        ph(uuid="naive", timestamp="2024-06-01T12:00:00.5"),
        ph(uuid="none"),
    ]
    accepted(await post(client, "/e", events, params={"ver": "1"}))
    times = stored_times(database_url)
    assert times[0][0] == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert times[1][0] == datetime(2024, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert times[2][0] == times[2][1]
    assert before <= times[2][0] <= datetime.now(UTC)
    exports = await exported(client)
    assert [line["timestamp"] for line in exports[:2]] == [
        "2024-06-01T12:00:00Z",
        "2024-06-01T12:00:00.500000Z",
    ]


YEAR_MS = 366 * 24 * 3600 * 1000
BAD_OFFSETS = ["2500", 2.5, True, [1], YEAR_MS + 1, -YEAR_MS - 1]


@pytest.mark.parametrize("offset", BAD_OFFSETS)
async def test_bad_offset_is_400(client: httpx.AsyncClient, database_url: str, offset: Any) -> None:
    response = await post(client, "/e", [ph(uuid="ok"), ph(uuid="bad", offset=offset)])
    assert invalid(response)["errors"] == [
        field_error([1, "offset"], "must be whole milliseconds, at most a year")
    ]
    assert stored_events(database_url) == []


async def test_bad_times_are_400_naming_them(client: httpx.AsyncClient, database_url: str) -> None:
    iso_msg = "must be an ISO 8601 date-time string, e.g. 2026-11-24T10:15:00Z"
    cases = [
        (
            {"batch": [ph(timestamp=1700000000)]},
            None,
            [field_error(["batch", 0, "timestamp"], iso_msg)],
        ),
        ({"batch": [ph()], "sent_at": "yesterday"}, None, [field_error(["sent_at"], iso_msg)]),
        ([ph(sent_at="soon")], None, [field_error([0, "sent_at"], iso_msg)]),
        (
            [ph()],
            {"_": "17e11"},
            [
                field_error(
                    ["query", "_"], "must be milliseconds since the Unix epoch, before year 10000"
                )
            ],
        ),
    ]
    far = "is too far from the time the batch was sent"
    cases += [
        (
            [ph(timestamp="0001-01-01T00:00:00Z", sent_at="9999-12-31T00:00:00Z")],
            None,
            [field_error([0, "timestamp"], far)],
        ),
        (
            {"batch": [ph(timestamp="9999-12-31T00:00:00Z")], "sent_at": "0001-01-01T00:00:00Z"},
            None,
            [field_error(["batch", 0, "timestamp"], far)],
        ),
    ]
    for body, params, errors in cases:
        assert invalid(await post(client, "/e", body, params=params))["errors"] == errors
    assert stored_events(database_url) == []


async def test_underscore_past_year_9999_is_400(app: FastAPI, database_url: str) -> None:
    """`_` is checked as at most 15 digits, but 15 digits of ms reach past year 9999."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await post(client, "/e/", [ph(uuid="x")], params={"_": "300000000000000"})
    assert stored_events(database_url) == []
    assert invalid(response)["errors"] == [
        field_error(["query", "_"], "must be milliseconds since the Unix epoch, before year 10000")
    ]


async def test_time_from_offset_is_refused_naming_offset(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """An offset of minus two days puts the event two days ahead: the refusal names offset."""
    response = await post(client, "/e", [ph(uuid="x", offset=-2 * 86_400_000)])
    assert stored_events(database_url) == []
    assert [error["loc"] for error in invalid(response)["errors"]] == [[0, "offset"]]


async def test_bad_trait_changes_beside_the_properties_are_refused_naming_them(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A NUL in a $set or $set_once sent beside the properties is refused where it was sent."""
    body = {
        "batch": [
            ph(uuid="a", **{"$set": {"name": "a\x00"}}),
            ph(uuid="b", properties={"$set": {"ok": 1}}, **{"$set_once": {"\x00": 1}}),
        ]
    }
    nul = "must not contain NUL (\\u0000) characters"
    assert invalid(await post(client, "/capture", body))["errors"] == [
        field_error(["batch", 0, "$set"], nul),
        field_error(["batch", 1, "$set_once"], nul),
    ]
    assert stored_events(database_url) == []
