"""GET /analytics/export/summary: its CSV says what GET /analytics/timeseries says."""

from typing import Any

import httpx
import pytest

from tests.exports.export_helpers import (
    METRICS,
    SUMMARY,
    SUMMARY_HEADER,
    click,
    csv_rows,
    file_name,
    get,
    ingest,
)
from tests.helpers import event

pytestmark = pytest.mark.anyio

# --- 7. summary ----------------------------------------------------------------------------


def summary_events() -> list[dict[str, Any]]:
    """Activity around Europe/London's spring-forward (2026-03-29 01:00 UTC)."""
    times = [
        "2026-03-23T00:00:00Z",
        "2026-03-25T12:00:00Z",
        "2026-03-28T23:59:59.999999Z",
        "2026-03-29T00:00:00Z",  # 00:00 GMT on the 29th
        "2026-03-29T00:59:59Z",
        "2026-03-29T01:00:00Z",  # 02:00 BST
        "2026-03-29T22:59:59.999999Z",  # 23:59:59 BST, still the 29th
        "2026-03-29T23:00:00Z",  # 00:00 BST on the 30th: next week too
        "2026-04-02T09:00:00Z",
        "2026-04-05T22:59:59Z",  # 23:59:59 BST on the 5th, the last day
        "2026-04-05T23:00:00Z",  # the 6th: outside the range
    ]
    events = []
    for n, moment in enumerate(times):
        session = f"s{n % 4}"
        user = f"u{n % 3}"
        events.append(event(event_id=f"m{n}", user_id=user, session_id=session, timestamp=moment))
        events.append(
            event(
                event_id=f"r{n}",
                user_id=user,
                session_id=session,
                role="assistant",
                message="reply",
                timestamp=moment,
            )
        )
        if n % 3 == 0:
            events.append(
                click(
                    event_id=f"c{n}",
                    cta_id="buy",
                    user_id=user,
                    session_id=session,
                    timestamp=moment,
                )
            )
    return events


def timeseries_rows(series: dict[str, Any]) -> list[list[str]]:
    """The timeseries buckets as the summary CSV should spell them."""
    return [
        [bucket["start"], bucket["end"], *(str(bucket[name]) for name in METRICS)]
        for bucket in series["buckets"]
    ]


async def compare_summary(client: httpx.AsyncClient, **params: str) -> list[list[str]]:
    response = await get(client, SUMMARY, **params)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    rows = csv_rows(response.text, SUMMARY_HEADER)
    series = (await get(client, "/analytics/timeseries", **params)).json()
    assert rows == timeseries_rows(series), params
    assert response.text.endswith("\r\n")
    return rows


async def test_summary_equals_timeseries_across_dst(client: httpx.AsyncClient) -> None:
    await ingest(client, summary_events())
    span = {"start_date": "2026-03-23", "end_date": "2026-04-05", "tz": "Europe/London"}

    days = await compare_summary(client, interval="day", **span)
    assert len(days) == 14
    assert days[6][:2] == ["2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00"]
    # The 29th: m3, m4, m5, m6 and their replies; clicks c3 and c6.
    assert days[6][2:5] == ["8", "3", "2"]
    assert sum(int(row[2]) for row in days) == 20  # 10 times in range, 2 messages each

    weeks = await compare_summary(client, interval="week", **span)
    assert [row[:2] for row in weeks] == [
        ["2026-03-23T00:00:00+00:00", "2026-03-30T00:00:00+01:00"],
        ["2026-03-30T00:00:00+01:00", "2026-04-06T00:00:00+01:00"],
    ]
    assert [row[2] for row in weeks] == ["14", "6"]

    hours = await compare_summary(
        client, interval="hour", start_date="2026-03-29", end_date="2026-03-29", tz="Europe/London"
    )
    assert len(hours) == 23  # 01:00 to 02:00 did not happen

    utc_days = await compare_summary(
        client, interval="day", start_date="2026-03-28", end_date="2026-03-30"
    )
    assert [row[2] for row in utc_days] == ["2", "10", "0"]  # 23:00 UTC is still the 29th


async def test_summary_default_is_the_last_seven_days(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        [event(event_id="now"), click(event_id="click")],
    )
    rows = await compare_summary(client)
    assert len(rows) == 7
    assert rows[-1][2:5] == ["1", "1", "1"]
    assert rows[-1][-2:] == ["1.0", "1.0"]
    weeks = await compare_summary(client, interval="week", tz="Pacific/Kiritimati")
    assert sum(int(row[2]) for row in weeks) == 1


async def test_summary_file_name(client: httpx.AsyncClient) -> None:
    response = await get(
        client, SUMMARY, interval="week", start_date="2026-03-23", end_date="2026-04-05"
    )
    assert file_name(response) == "summary_week_2026-03-23_to_2026-04-05.csv"
