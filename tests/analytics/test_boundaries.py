"""The trickiest day and hour boundaries, and erasure in a shared session, by example."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import event

pytestmark = pytest.mark.anyio


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    response = await client.post("/client/batch", json={"events": list(events)})
    assert response.status_code == 200, response.text


async def get(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def summary(client: httpx.AsyncClient, start: str, end: str, tz: str) -> Any:
    return await get(client, "/analytics/summary", start_date=start, end_date=end, tz=tz)


async def buckets(
    client: httpx.AsyncClient, start: str, end: str, tz: str, interval: str
) -> list[Any]:
    params = {"start_date": start, "end_date": end, "tz": tz, "interval": interval}
    series = await get(client, "/analytics/timeseries", **params)
    return list(series["buckets"])


def shown(moment: str) -> str:
    """A bucket start or end in one spelling (+00:00, never Z), offset kept."""
    return datetime.fromisoformat(moment).isoformat()


async def test_local_midnight_in_kathmandu_starts_the_new_day(client: httpx.AsyncClient) -> None:
    # Midnight at +05:45 is 18:15 UTC the evening before.
    await post(
        client,
        event(event_id="last", timestamp="2026-03-09T18:14:59.999999Z"),
        event(event_id="first", timestamp="2026-03-09T18:15:00Z"),
    )
    tz = "Asia/Kathmandu"
    assert (await summary(client, "2026-03-09", "2026-03-09", tz))["total_messages"] == 1
    assert (await summary(client, "2026-03-10", "2026-03-10", tz))["total_messages"] == 1
    days = await buckets(client, "2026-03-09", "2026-03-10", tz, "day")
    assert [(shown(b["start"]), b["total_messages"]) for b in days] == [
        ("2026-03-09T00:00:00+05:45", 1),
        ("2026-03-10T00:00:00+05:45", 1),
    ]
    hours = await buckets(client, "2026-03-10", "2026-03-10", tz, "hour")
    assert [b["total_messages"] for b in hours] == [1] + [0] * 23


async def test_dst_gap_day_in_santiago(client: httpx.AsyncClient) -> None:
    # 2025-09-06 24:00 -04:00 became 2025-09-07 01:00 -03:00: the 7th has no midnight.
    await post(
        client,
        event(event_id="sat", timestamp="2025-09-07T03:59:59.999999Z"),
        event(event_id="sun", timestamp="2025-09-07T04:00:00Z"),
    )
    tz = "America/Santiago"
    assert (await summary(client, "2025-09-06", "2025-09-06", tz))["total_messages"] == 1
    assert (await summary(client, "2025-09-07", "2025-09-07", tz))["total_messages"] == 1
    days = await buckets(client, "2025-09-06", "2025-09-07", tz, "day")
    assert [(shown(b["start"]), shown(b["end"]), b["total_messages"]) for b in days] == [
        ("2025-09-06T00:00:00-04:00", "2025-09-07T01:00:00-03:00", 1),
        ("2025-09-07T01:00:00-03:00", "2025-09-08T00:00:00-03:00", 1),
    ]
    hours = await buckets(client, "2025-09-07", "2025-09-07", tz, "hour")
    assert len(hours) == 23
    assert shown(hours[0]["start"]) == "2025-09-07T01:00:00-03:00"
    assert hours[0]["total_messages"] == 1


async def test_fall_back_day_in_london_has_25_hourly_buckets(client: httpx.AsyncClient) -> None:
    # 2025-10-26: 01:00-02:00 happens twice, first at +01:00 then at +00:00.
    await post(
        client,
        event(event_id="summer", timestamp="2025-10-26T00:30:00Z"),
        event(event_id="winter", timestamp="2025-10-26T01:30:00Z"),
    )
    hours = await buckets(client, "2025-10-26", "2025-10-26", "Europe/London", "hour")
    assert len(hours) == 25
    assert [(shown(b["start"]), b["total_messages"]) for b in hours[1:3]] == [
        ("2025-10-26T01:00:00+01:00", 1),
        ("2025-10-26T01:00:00+00:00", 1),
    ]
    assert sum(b["total_messages"] for b in hours) == 2


async def test_session_on_two_days_counts_once(client: httpx.AsyncClient) -> None:
    # Two local days in New York, one UTC day.
    await post(
        client,
        event(event_id="evening", timestamp="2026-02-10T23:30:00-05:00"),
        event(event_id="reply", role="assistant", timestamp="2026-02-11T00:30:00-05:00"),
        event(event_id="click", event_type="cta_click", timestamp="2026-02-11T00:31:00-05:00"),
    )
    tz = "America/New_York"
    both = await summary(client, "2026-02-10", "2026-02-11", tz)
    assert (both["sessions"], both["unique_users"], both["converted_sessions"]) == (1, 1, 1)
    assert (both["total_messages"], both["messages_per_session"], both["conversion_rate"]) == (
        2,
        2.0,
        1.0,
    )
    days = await buckets(client, "2026-02-10", "2026-02-11", tz, "day")
    assert [(b["sessions"], b["total_messages"], b["converted_sessions"]) for b in days] == [
        (1, 1, 0),
        (1, 1, 1),
    ]


async def test_bucket_start_keeps_an_offset_with_seconds(client: httpx.AsyncClient) -> None:
    # Until 1972-01-07 Liberia was at -00:44:30; JSON must not round the offset to -00:44.
    days = await buckets(client, "1971-12-18", "1971-12-18", "Africa/Monrovia", "day")
    start = datetime.fromisoformat(days[0]["start"])
    assert start.replace(tzinfo=None) == datetime(1971, 12, 18)
    assert start.utcoffset() == -timedelta(minutes=44, seconds=30)


async def test_erasing_the_clicker_of_a_shared_session(client: httpx.AsyncClient) -> None:
    await post(
        client,
        event(event_id="ask", user_id="ana", timestamp="2026-05-04T10:00:00Z"),
        event(event_id="click", user_id="ben", event_type="cta_click", cta_id="book",
              timestamp="2026-05-04T10:01:00Z"),
    )  # fmt: skip
    for expected in (1, 0):  # a repeat erases nothing
        response = await client.delete("/users/ben", headers=ADMIN)
        assert response.json() == {"user_id": "ben", "deleted_events": expected}
        after = await summary(client, "2026-05-04", "2026-05-04", "UTC")
        assert (after["sessions"], after["converted_sessions"], after["cta_clicks"]) == (1, 0, 0)
        assert (after["unique_users"], after["total_messages"]) == (1, 1)
        report = await get(
            client, "/analytics/ctas", start_date="2026-05-04", end_date="2026-05-04"
        )
        assert (report["total_clicks"], report["ctas"]) == (0, [])


@pytest.mark.parametrize("value", ["0", "20260101", "1700000000", "2026-1-01", " 2026-01-01"])
async def test_dates_must_be_written_as_iso_days(client: httpx.AsyncClient, value: str) -> None:
    # Pydantic alone would read "0" as 1970-01-01 (a Unix time).
    for path in ("/analytics/summary", "/analytics/export", "/analytics/export/summary"):
        for name in ("start_date", "end_date"):
            response = await client.get(path, params={name: value}, headers=ADMIN)
            assert response.status_code == 422, (path, name, response.text)
            assert response.json()["detail"][0]["loc"] == ["query", name]
