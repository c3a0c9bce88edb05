"""GET /analytics/export's CSV: every character round trips, and formulas are neutralised."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin_analytics.exports import formats
from tests.exports.export_helpers import (
    EXPORT,
    ROUND_TRIP_MESSAGES,
    TRIGGERS,
    as_row,
    at,
    export_rows,
    get,
    ingest,
    restored,
    round_trip_events,
)
from tests.helpers import event

pytestmark = pytest.mark.anyio

# --- 1. round trip -------------------------------------------------------------------------


async def test_csv_round_trips_every_character(client: httpx.AsyncClient) -> None:
    events = round_trip_events()
    assert len(ROUND_TRIP_MESSAGES[-1]) == 10_000
    await ingest(client, events)
    expected = [as_row(body) for body in events]

    escaped = await export_rows(client)
    assert restored(escaped) == expected
    raw = await export_rows(client, escape_formulas="false")
    assert raw == expected
    # Spelled out for the cells most likely to go wrong.
    by_id = {row[0]: row for row in raw}
    assert by_id["click-empty"][5] == ""
    assert by_id["click-blank"][5] == " "
    assert by_id["msg-05"][5] == "line one\rline two"
    assert by_id["micro"][1:3] == [" spaced user ", "s\r2"]
    assert by_id["micro"][4] == "2026-03-01T11:00:03.123456Z"
    assert by_id['id, "quoted"\r\nnext'][4] == "2026-03-01T11:00:02.000001Z"


async def test_csv_is_rfc_4180_with_crlf_rows(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        [
            event(event_id="e1", message="Hello", timestamp="2026-03-01T10:00:00Z"),
            event(event_id="e2", message='a, "b"\nc', timestamp="2026-03-01T10:00:00.500000Z"),
        ],
    )
    response = await get(client, EXPORT)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content == (
        b"event_id,user_id,session_id,event_type,timestamp,message\r\n"
        b"e1,user-1,session-1,message,2026-03-01T10:00:00Z,Hello\r\n"
        b'e2,user-1,session-1,message,2026-03-01T10:00:00.500000Z,"a, ""b""\nc"\r\n'
    )


async def test_empty_export_is_just_the_header(client: httpx.AsyncClient) -> None:
    response = await get(client, EXPORT)
    assert response.content == b"event_id,user_id,session_id,event_type,timestamp,message\r\n"
    ndjson = await get(client, EXPORT, format="ndjson")
    assert ndjson.content == b""


async def test_times_with_an_offset_come_back_in_utc(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        [
            event(event_id="kolkata", timestamp="2026-03-01T15:30:00+05:30"),
            event(event_id="no-zone", timestamp="2026-03-01T10:00:01"),
            event(event_id="year-1", timestamp="0001-01-01T00:00:00Z"),
        ],
    )
    rows = await export_rows(client)
    assert [(row[0], row[4]) for row in rows] == [
        ("year-1", "0001-01-01T00:00:00Z"),
        ("kolkata", "2026-03-01T10:00:00Z"),
        ("no-zone", "2026-03-01T10:00:01Z"),
    ]


# --- 2. formula neutralisation -------------------------------------------------------------


def formula_events() -> list[dict[str, Any]]:
    """For each trigger: one event with it first in every text cell, one with it inside."""
    events = []
    for n, trigger in enumerate(TRIGGERS):
        events.append(
            event(
                event_id=f"{trigger}id-{n}",
                user_id=f"{trigger}user-{n}",
                session_id=f"{trigger}session-{n}",
                message=f'{trigger}HYPERLINK("http://evil.example","click")',
                timestamp=at(2 * n),
            )
        )
        events.append(
            event(
                event_id=f"id{trigger}{n}",
                user_id=f"user{trigger}{n}",
                session_id=f" {trigger}session-{n}",  # a space first: not a trigger
                message=f"1{trigger}1",
                timestamp=at(2 * n + 1),
            )
        )
    for n, alone in enumerate(["=", "+", "-", "@", "'", "''", "-5", "@SUM(A1)", "=1+2"]):
        events.append(event(event_id=f"alone-{n}", message=alone, timestamp=at(100 + n)))
    return events


def neutralised(cell: str) -> str:
    return "'" + cell if cell[:1] in TRIGGERS else cell


async def test_formula_cells_get_one_apostrophe(client: httpx.AsyncClient) -> None:
    events = formula_events()
    await ingest(client, events)
    rows = await export_rows(client)
    expected = [[neutralised(cell) for cell in as_row(body)] for body in events]
    assert rows == expected
    # Spot checks, spelled out.
    assert rows[0][:4] == ["'=id-0", "'=user-0", "'=session-0", "message"]
    assert rows[0][5] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[1][:3] == ["id=0", "user=0", " =session-0"]
    assert rows[8][:2] == ["'\tid-4", "'\tuser-4"]
    assert rows[10][:2] == ["'\rid-5", "'\ruser-5"]
    assert rows[12][:2] == ["''id-6", "''user-6"]
    assert [row[5] for row in rows[-9:]] == [
        "'=", "'+", "'-", "'@", "''", "'''", "'-5", "'@SUM(A1)", "'=1+2",
    ]  # fmt: skip
    assert restored(rows) == [as_row(body) for body in events]


async def test_escape_formulas_false_leaves_cells_raw(client: httpx.AsyncClient) -> None:
    events = formula_events()
    await ingest(client, events)
    assert await export_rows(client, escape_formulas="false") == [as_row(b) for b in events]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_1_US = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
YEAR_9999_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // timedelta(
    microseconds=1
)


@given(st.lists(st.integers(YEAR_1_US, YEAR_9999_US), max_size=50), st.integers(0, 180_000_000))
def test_utc_text_is_isoformat(times: list[int], step: int) -> None:
    """The remembered minute never leaks into another minute's text: runs of close times
    (across minute, day and year ends) and jumps, against datetime.isoformat."""
    utc_text = formats.UtcText()
    for start in times:
        for value in (start, start + step, start + 2 * step, start - 1):
            if YEAR_1_US <= value <= YEAR_9999_US:
                expected = (EPOCH + timedelta(microseconds=value)).isoformat()
                assert utc_text(value) == expected.replace("+00:00", "Z")


def test_utc_text_fixed_examples() -> None:
    utc_text = formats.UtcText()
    assert utc_text(0) == "1970-01-01T00:00:00Z"
    assert utc_text(-1) == "1969-12-31T23:59:59.999999Z"
    assert utc_text(59_999_999) == "1970-01-01T00:00:59.999999Z"
    assert utc_text(60_000_000) == "1970-01-01T00:01:00Z"
    assert utc_text(1_772_359_200_000_001) == "2026-03-01T10:00:00.000001Z"


def test_restore_undoes_neutralize() -> None:
    for cell in ["", "plain", "=1", "'", "''x", "\t", "\r\n", " =1", "-", "a'b"]:
        assert formats.restore(formats.neutralize(cell)) == cell
    assert formats.neutralize("=1") == "'=1"
    assert formats.neutralize("'x") == "''x"
    assert formats.neutralize(" =1") == " =1"
    assert formats.restore("'=1") == "=1"
    assert formats.restore("''x") == "'x"
    assert formats.restore("x'") == "x'"
