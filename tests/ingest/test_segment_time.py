"""Segment's tracking API: the client's clock corrected, and RETENTION_DAYS refusing old events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.conftest import client_for
from tests.helpers import stored_events
from tests.ingest.segment_helpers import (
    assert_names,
    assert_ok,
    at,
    batch_of,
    call,
    export_rows,
    iso,
    msg,
    post,
    refused,
    stored,
    track,
)

pytestmark = pytest.mark.anyio

# --- the client's clock ---------------------------------------------------------------------


def times(rows: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    """(timestamp, received_at) of each exported event, by event_id."""
    return {
        item["event_id"]: (
            datetime.fromisoformat(item["timestamp"]),
            datetime.fromisoformat(item["received_at"]),
        )
        for item in rows
    }


@pytest.mark.parametrize(
    "off", [timedelta(hours=1), timedelta(days=3), -timedelta(days=2)], ids=["1h", "3d", "-2d"]
)
async def test_a_client_clock_that_is_off_is_corrected(
    client: httpx.AsyncClient, off: timedelta
) -> None:
    """timestamp = receivedAt - (sentAt - timestamp): an event sent 10 s after it happened by
    a device whose clock is off (by more than the 24 h the future check allows, too) is
    stored 10 s before the server received it."""
    sent_at = datetime.now(UTC) + off
    happened = iso(sent_at - timedelta(seconds=10))
    before = datetime.now(UTC)
    assert_ok(
        await post(client, "/v1/track", call(track(1, timestamp=happened, sentAt=iso(sent_at))))
    )
    after = datetime.now(UTC)
    [(timestamp, received)] = times(await export_rows(client)).values()
    assert before <= received <= after
    assert timestamp == received - timedelta(seconds=10)
    assert abs(timestamp - (before - timedelta(seconds=10))) < timedelta(seconds=2)


async def test_the_batch_sent_at_applies_to_messages_without_their_own(
    client: httpx.AsyncClient,
) -> None:
    """A batch's sentAt corrects its messages (timestamp, else originalTimestamp); a message's
    own sentAt wins; a message with no time at all is stored at the time received."""
    sent_at = datetime.now(UTC) + timedelta(hours=1)
    own = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    batch = batch_of(
        {**track(1), "timestamp": iso(sent_at - timedelta(seconds=10))},
        {**track(2), "timestamp": iso(own), "sentAt": iso(own + timedelta(seconds=5))},
        {**track(3), "timestamp": None},
        {**track(4), "timestamp": None, "originalTimestamp": iso(sent_at - timedelta(seconds=30))},
        sentAt=iso(sent_at),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    stored_times = times(await export_rows(client))
    [received] = {received for _, received in stored_times.values()}
    assert {event_id: timestamp for event_id, (timestamp, _) in stored_times.items()} == {
        "m-1": received - timedelta(seconds=10),
        "m-2": received - timedelta(seconds=5),
        "m-3": received,
        "m-4": received - timedelta(seconds=30),
    }


async def test_without_sent_at_the_timestamp_is_kept(client: httpx.AsyncClient) -> None:
    """No sentAt: timestamp (else originalTimestamp) is stored as sent, in UTC (no offset is
    UTC; nanoseconds, as analytics-go sends, are cut to microseconds); no time at all is the
    time received."""
    batch = batch_of(
        track(1, timestamp="2026-05-04T12:01:02.5+02:00"),
        {**track(2), "timestamp": None, "originalTimestamp": "2026-05-04T10:03:00"},
        track(3, originalTimestamp=at(59)),
        track(4, timestamp="2026-05-04T10:05:00.123456789Z"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert [(item["event_id"], item["timestamp"]) for item in await stored(client)] == [
        ("m-1", "2026-05-04T10:01:02.500000Z"),
        ("m-2", at(3)),
        ("m-3", at(3)),
        ("m-4", "2026-05-04T10:05:00.123456Z"),
    ]
    assert_ok(await post(client, "/v1/t", {"userId": "u", "event": "Now", "messageId": "now"}))
    [item] = [item for item in await export_rows(client) if item["event_id"] == "now"]
    assert item["timestamp"] == item["received_at"]


# --- RETENTION_DAYS -------------------------------------------------------------------------


async def test_an_event_older_than_retention_is_400(settings: Settings, database_url: str) -> None:
    """With RETENTION_DAYS=30, an event older than that (it would be deleted at the next run)
    is refused naming it; the time compared is the corrected one."""
    now = datetime.now(UTC)
    ago = {days: iso(now - timedelta(days=days)) for days in (1, 29, 31, 40)}
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = batch_of(track(1, timestamp=ago[1]), track(2, timestamp=ago[31]))
        assert_names(
            refused(await post(client, "/v1/batch", batch)),
            ["batch", 1, "timestamp"],
            "is older than RETENTION_DAYS (30 days), so it would not be kept",
        )
        old_identify = call(msg("identify", None, traits={"a": 1}, timestamp=ago[40]))
        assert_names(
            refused(await post(client, "/v1/identify", old_identify)),
            ["timestamp"],
            "older than RETENTION_DAYS (30 days)",
        )
        assert stored_events(database_url) == []
        # A device whose clock is 40 days behind, sending an event 10 s after it happened.
        late_clock = iso(now - timedelta(days=40) + timedelta(seconds=10))
        assert_ok(await post(client, "/v1/t", call(track(3, timestamp=ago[40], sentAt=late_clock))))
        assert_ok(await post(client, "/v1/batch", batch_of(track(4, timestamp=ago[29]))))
        assert sorted(item["event_id"] for item in stored_events(database_url)) == ["m-3", "m-4"]


async def test_retention_names_original_timestamp_when_that_was_sent(settings: Settings) -> None:
    old = iso(datetime.now(UTC) - timedelta(days=40))
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = batch_of({**track(1), "timestamp": None, "originalTimestamp": old})
        detail = refused(await post(client, "/v1/batch", batch))
        assert_names(detail, ["batch", 0, "originalTimestamp"], "RETENTION_DAYS")
