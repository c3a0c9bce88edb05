"""GET /analytics/export and /analytics/export/summary, on SQLite and PostgreSQL.

Events go in through POST /client/batch and come back out of the export: CSV parsed with the
csv module must give back exactly what was sent (after `formats.restore` when formulas are
neutralised), NDJSON must carry every field, gzip must be the same bytes compressed, and the
summary CSV must say what GET /analytics/timeseries says.
"""

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin_analytics.exports import formats
from tests.conftest import ADMIN
from tests.helpers import NO_USAGE, event

pytestmark = pytest.mark.anyio

EXPORT = "/analytics/export"
SUMMARY = "/analytics/export/summary"
CSV_HEADER = ["event_id", "user_id", "session_id", "event_type", "timestamp", "message"]
NDJSON_FIELDS = [
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id",
    "properties", "timestamp", "received_at",
    "model", "input_tokens", "output_tokens", "latency_ms",
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


# --- 1. round trip -------------------------------------------------------------------------

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


# --- 5. gzip -------------------------------------------------------------------------------

GZIP_ACCEPTED = ["gzip", "gzip, deflate", "deflate, gzip;q=0.5", "GZIP", "*", "br, *;q=0.1"]
GZIP_REFUSED = ["identity", "gzip;q=0", "gzip;q=0.0", "br", "deflate, gzip;q=0, *", "*;q=0"]


@pytest.mark.parametrize("output", ["csv", "ndjson"])
async def test_gzip_only_when_accepted(client: httpx.AsyncClient, output: str) -> None:
    await ingest(client, round_trip_events())
    identity, plain = await raw_export(client, "identity", format=output)
    assert "content-encoding" not in identity.headers
    assert plain.startswith(b"event_id," if output == "csv" else b'{"event_id":')
    for accept in GZIP_ACCEPTED:
        response, raw = await raw_export(client, accept, format=output)
        assert response.headers["content-encoding"] == "gzip", accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw[:2] == b"\x1f\x8b", accept
        assert gzip.decompress(raw) == plain, accept
    for accept in GZIP_REFUSED:
        response, raw = await raw_export(client, accept, format=output)
        assert "content-encoding" not in response.headers, accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw == plain, accept


async def test_httpx_default_gets_gzip_and_decodes_it(client: httpx.AsyncClient) -> None:
    await ingest(client, round_trip_events())
    response = await get(client, EXPORT)  # httpx sends Accept-Encoding: gzip, deflate
    assert response.headers["content-encoding"] == "gzip"
    identity = await client.get(EXPORT, headers={**ADMIN, "Accept-Encoding": "identity"})
    assert response.text == identity.text
    assert restored(csv_rows(response.text)) == [as_row(b) for b in round_trip_events()]


# --- 6. byte order mark --------------------------------------------------------------------


async def test_bom_only_when_asked(client: httpx.AsyncClient) -> None:
    await ingest(client, [event(event_id="e1", message="Grüße", timestamp=at(0))])
    _, plain = await raw_export(client, "identity")
    assert plain.startswith(b"event_id,user_id,")
    _, explicit_off = await raw_export(client, "identity", bom="false")
    assert explicit_off == plain
    _, with_bom = await raw_export(client, "identity", bom="true")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert with_bom.decode("utf-8").startswith("\ufeffevent_id,user_id,")
    _, zipped = await raw_export(client, "gzip", bom="true")
    assert gzip.decompress(zipped) == with_bom
    assert csv_rows(with_bom.decode("utf-8-sig")) == [
        ["e1", "user-1", "session-1", "message", at(0), "Grüße"]
    ]


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


# --- 8. errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
async def test_admin_key_required(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert (await client.get(path, headers=wrong)).status_code == 401


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
async def test_bad_ranges_are_400(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert response.status_code == 400
    assert "Mars/Olympus" in response.json()["detail"]
    params = {"start_date": "2026-03-05", "end_date": "2026-03-01"}
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "2026-03-05" in detail
    assert "2026-03-01" in detail
    assert "start_date" in detail
    assert "end_date" in detail


INVALID_EXPORT_PARAMS = [
    {"start_date": "2026-02-30"},
    {"end_date": "yesterday"},
    {"start_date": "01/03/2026"},
    {"user_id": "user\x00-1"},
    {"event_type": "\x00"},
    {"user_id": "u" * 257},
    {"format": "xml"},
    {"format": "CSV"},
    {"escape_formulas": "maybe"},
    {"bom": "2"},
]


@pytest.mark.parametrize("params", INVALID_EXPORT_PARAMS)
async def test_invalid_export_params_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(EXPORT, params=params, headers=ADMIN)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "params", [{"start_date": "2026-13-01"}, {"end_date": "2026-3-x"}, {"interval": "month"}]
)
async def test_invalid_summary_params_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(SUMMARY, params=params, headers=ADMIN)
    assert response.status_code == 422, response.text


ODD_PARAMS = [
    {"tz": ""},
    {"tz": "../../etc/passwd"},
    {"tz": "/UTC"},
    {"tz": "zone.tab"},
    {"tz": "America"},
    {"tz": "\x00"},
    {"tz": "x" * 5000},
    {"start_date": "0001-01-01"},
    {"user_id": "🙂" * 256, "event_type": "e" * 64},
    {"user_id": ""},
    {"event_type": ""},
]
# Dates at the ends of Python's calendar (year 1, year 9999): refused, never an overflow.
CALENDAR_ENDS = [
    {"start_date": "0001-01-01", "tz": "Asia/Tokyo"},
    {"end_date": "0001-01-01", "tz": "America/New_York"},
    {"end_date": "9999-12-31"},
    {"start_date": "9999-12-31", "tz": "Pacific/Kiritimati"},
    {"start_date": "0001-01-01", "end_date": "9999-12-31"},
]


def odd_case(path: str, params: dict[str, str]) -> Any:
    name = "&".join(f"{key}={value[:16]}" for key, value in params.items())
    return pytest.param(path, params, id=f"{path.rsplit('/', 1)[1]}?{name}")


ODD_CASES = [odd_case(path, params) for params in ODD_PARAMS for path in (EXPORT, SUMMARY)]


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
@pytest.mark.parametrize("params", CALENDAR_ENDS)
async def test_dates_at_the_ends_of_the_calendar_are_refused(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert "dates must be between 0002-01-01 and 9998-12-31" in response.json()["detail"]


@pytest.mark.parametrize(("path", "params"), ODD_CASES)
async def test_odd_params_never_5xx(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    await ingest(client, [event(event_id="e1", timestamp=at(0))])
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code in (200, 400, 422), response.text


# --- 9. a large export ---------------------------------------------------------------------

LARGE = 5_000


def large_events() -> list[dict[str, Any]]:
    """Event n happens n seconds after the start; they are posted in a scrambled order."""
    order = [(n * 2_003) % LARGE for n in range(LARGE)]  # 2003 is prime: a permutation
    assert sorted(order) == list(range(LARGE))
    return [
        event(
            event_id=f"e{n:05d}",
            user_id=f"user-{n % 97}",
            session_id=f"session-{n % 211}",
            message=f'message {n}, with "quotes"\r\nand a newline' if n % 2 else f"={n}",
            timestamp=f"2026-03-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        )
        for n in order
    ]


async def test_large_export_is_complete_and_in_order(client: httpx.AsyncClient) -> None:
    events = large_events()
    await ingest(client, events)
    by_id = {body["event_id"]: as_row(body) for body in events}
    expected = [by_id[f"e{n:05d}"] for n in range(LARGE)]

    _, plain = await raw_export(client, "identity")
    rows = csv_rows(plain.decode("utf-8"))
    assert len(rows) == LARGE
    assert restored(rows) == expected

    _, zipped = await raw_export(client, "gzip")
    assert gzip.decompress(zipped) == plain

    ndjson = await get(client, EXPORT, format="ndjson")
    lines = ndjson.text.split("\n")
    assert lines[-1] == ""
    assert [json.loads(line)["event_id"] for line in lines[:-1]] == [row[0] for row in expected]

    one_user = await export_rows(client, user_id="user-5")
    assert ids(one_user) == [f"e{n:05d}" for n in range(5, LARGE, 97)]
