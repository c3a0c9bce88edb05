"""Every analytics endpoint agrees with a brute force over the same random events, on SQLite and
PostgreSQL: time zones with DST and odd offsets, events on boundaries, backfill, duplicates, users
sharing sessions, and erasure."""

import dataclasses
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from plugin_analytics.derived.rollups import compact_all
from plugin_analytics.privacy.retention import apply_retention
from tests.analytics import brute_force
from tests.analytics.brute_force import Event, Stored, day_start
from tests.conftest import ADMIN
from tests.helpers import NO_RATINGS, empty

pytestmark = pytest.mark.anyio

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    # The database is emptied at the start of every example, so sharing the fixtures is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Each zone with the period its scenarios centre on: a day when its offset changes, or any day.
ZONES = {
    "UTC": (date(2024, 1, 1), date(2026, 11, 15)),
    "Europe/London": (date(2024, 1, 1), date(2026, 11, 15)),
    "America/New_York": (date(2024, 1, 1), date(2026, 11, 15)),
    "America/Santiago": (date(2024, 1, 1), date(2026, 11, 15)),
    "Australia/Lord_Howe": (date(2024, 1, 1), date(2026, 11, 15)),  # 30-minute DST
    "Asia/Kolkata": (date(2024, 1, 1), date(2026, 11, 15)),  # +05:30
    "Asia/Kathmandu": (date(2024, 1, 1), date(2026, 11, 15)),  # +05:45
    # -00:44:30 until 1972-01-07: local days that no quarter-hour rollup lines up with.
    "Africa/Monrovia": (date(1971, 12, 1), date(1972, 2, 1)),
}
# Monrovia is the only zone whose days need the raw-event path: draw it more often.
ZONE_DRAWS = (*sorted(ZONES), "Africa/Monrovia")
USERS = ("ana", "ben", "chen", "dara")
SESSIONS = ("s1", "s2", "s3", "s4")
KINDS = (("message", "user"), ("message", "assistant"), ("cta_click", "user"))
ASSISTANT_LINES = ("Want a demo?", "Here is our pricing.", "Anything else?", "We ship to Norway.")
USER_LINES = ("Hi", "How much is it?")
CTA_IDS = ("book-demo", "pricing", None)
SHOWN_AS = ("Z", "naive", "Asia/Kathmandu", "America/St_Johns")
NUDGES_US = (0, 0, 0, 1, -1, -1_000_000)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


@cache
def offset_changes(zone: str) -> tuple[datetime, ...]:
    """The instants (whole seconds) where the zone's UTC offset changes, near its dates."""
    tz, (first, last) = ZoneInfo(zone), ZONES[zone]
    changes = []
    at = datetime.combine(first - 7 * DAY, time(), UTC)
    while at.date() < last + 7 * DAY:
        low, high = at, at + DAY
        if low.astimezone(tz).utcoffset() != high.astimezone(tz).utcoffset():
            while high - low > timedelta(seconds=1):
                middle = (low + (high - low) / 2).replace(microsecond=0)
                same = middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            changes.append(high)
        at += DAY
    return tuple(changes)


@cache
def special_instants(zone: str, anchor: date) -> tuple[datetime, ...]:
    """Local midnights, UTC midnights and offset changes around `anchor`."""
    tz = ZoneInfo(zone)
    local = [day_start(anchor + n * DAY, tz) for n in range(-2, 4)]
    utc = [datetime.combine(anchor + n * DAY, time(), UTC) for n in range(-1, 3)]
    near = [at for at in offset_changes(zone) if abs(at.date() - anchor) <= 4 * DAY]
    return tuple(local + utc + near)


def floor(at: datetime, size: timedelta) -> datetime:
    return at - (at - datetime(1970, 1, 1, tzinfo=UTC)) % size


def instants(zone: str, anchor: date) -> st.SearchStrategy[datetime]:
    """Event times: boundaries (and a microsecond either side), UTC hours and quarters, any
    time in the week around `anchor`, and backfilled times up to 900 days earlier."""
    tz = ZoneInfo(zone)
    start, end = day_start(anchor - 3 * DAY, tz), day_start(anchor + 4 * DAY, tz)
    special = st.builds(
        lambda at, nudge: at + nudge * US,
        st.sampled_from(special_instants(zone, anchor)),
        st.sampled_from(NUDGES_US),
    )
    within = st.integers(0, (end - start) // US - 1).map(lambda us: start + us * US)
    aligned = st.builds(floor, within, st.sampled_from([timedelta(minutes=15), timedelta(hours=1)]))
    backfilled = st.integers(20 * DAY // US, 900 * DAY // US).map(lambda us: start - us * US)
    return st.one_of(special, within, aligned, backfilled)


@st.composite
def events(draw: st.DrawFn, zone: str, anchor: date, event_id: str) -> Event:
    event_type, role = draw(st.sampled_from(KINDS))
    if event_type == "cta_click":
        role = draw(st.sampled_from(("user", "assistant")))  # a click's role must not matter
        message = draw(st.sampled_from(("Book a demo", "")))
    else:
        message = draw(st.sampled_from(ASSISTANT_LINES if role == "assistant" else USER_LINES))
    return Event(
        event_id=event_id,
        user_id=draw(st.sampled_from(USERS)),
        session_id=draw(st.sampled_from(SESSIONS)),
        event_type=event_type,
        role=role,
        message=message,
        cta_id=draw(st.sampled_from(CTA_IDS)) if event_type == "cta_click" else None,
        at=draw(instants(zone, anchor)),
        shown_as=draw(st.sampled_from(SHOWN_AS)),
    )


@dataclasses.dataclass
class Scenario:
    zone: str
    requests: list[list[Event]]  # posted one after the other; a lone event may go to /update
    use_update: list[bool]
    compact_after: list[bool]  # fold the pending rollup deltas after the request
    spans: list[tuple[date, date, str]]  # start_date, end_date, interval
    erased: list[str]
    late: list[Event]  # posted after the erasures: re-sent events and new ones

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@st.composite
def anchors(draw: st.DrawFn, zone: str) -> date:
    first, last = ZONES[zone]
    changes = [at.date() for at in offset_changes(zone) if first <= at.date() <= last]
    on_change = st.sampled_from(changes) if changes else st.nothing()
    return draw(st.one_of(on_change, st.dates(first, last)))


@st.composite
def spans(draw: st.DrawFn, anchor: date) -> list[tuple[date, date, str]]:
    """A short range (hourly or daily), a week or two, and a long one reaching the backfill."""
    short_start = anchor + draw(st.integers(-3, 3)) * DAY
    short_end = short_start + draw(st.integers(0, 2)) * DAY
    medium_start = anchor + draw(st.integers(-6, 2)) * DAY
    medium_end = medium_start + draw(st.integers(0, 12)) * DAY
    long_start = anchor - draw(st.integers(20, 950)) * DAY
    long_end = anchor + draw(st.integers(0, 5)) * DAY
    return [
        (short_start, short_end, draw(st.sampled_from(("hour", "hour", "day")))),
        (medium_start, medium_end, draw(st.sampled_from(("day", "week")))),
        (long_start, long_end, draw(st.sampled_from(("week", "week", "day")))),
    ]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONE_DRAWS))
    anchor = draw(anchors(zone))
    count = draw(st.integers(0, 30))
    pool = [draw(events(zone, anchor, f"e{n}")) for n in range(count)]
    requests = _split(draw, pool)
    _add_duplicates(draw, zone, anchor, requests)
    resent = draw(st.lists(st.sampled_from(pool), max_size=6)) if pool else []
    late = resent + [draw(events(zone, anchor, f"late{n}")) for n in range(draw(st.integers(0, 3)))]
    return Scenario(
        zone=zone,
        requests=requests,
        use_update=[draw(st.booleans()) for _ in requests],
        compact_after=[draw(st.booleans()) for _ in requests],
        spans=draw(spans(anchor)),
        erased=draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=2, unique=True)),
        late=draw(st.permutations(late)),
    )


def _split(draw: st.DrawFn, pool: list[Event]) -> list[list[Event]]:
    requests, rest = [], list(pool)
    while rest:
        size = draw(st.integers(1, len(rest)))
        requests.append(rest[:size])
        rest = rest[size:]
    return requests


def _add_duplicates(draw: st.DrawFn, zone: str, anchor: date, requests: list[list[Event]]) -> None:
    """Re-send some events: a copy in the same batch, or a different event under the same
    event_id in a later request (which must be ignored)."""
    for _ in range(draw(st.integers(0, 4)) if requests else 0):
        target = draw(st.integers(0, len(requests) - 1))
        source = draw(st.integers(0, target))
        original = draw(st.sampled_from(requests[source]))
        copy = original
        if source < target:
            impostor = draw(events(zone, anchor, original.event_id))
            copy = draw(st.sampled_from([original, impostor]))
        position = draw(st.integers(0, len(requests[target])))
        requests[target].insert(position, copy)


async def post(
    client: httpx.AsyncClient,
    stored: Stored,
    batch: list[Event],
    update: bool,
    site: str | None = None,
) -> None:
    """Post through the ingestion API (to `site`, named in the body) and into the brute
    force's store."""
    already = {event.event_id for event in stored.events}
    named = {} if site is None else {"site": site}
    if update and len(batch) == 1:
        response = await client.post("/client/update", json={**batch[0].body(), **named})
        assert response.status_code == 200, response.text
        stored.post(batch)
        return
    body = {"events": [e.body() for e in batch], **named}
    response = await client.post("/client/batch", json=body)
    assert response.status_code == 200, response.text
    new = stored.post(batch)
    assert new == len({e.event_id for e in batch} - already)
    assert response.json() == {
        "status": "success",
        "received": len(batch),
        "new": new,
        "duplicates": len(batch) - new,
    }


async def get_json(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def moment(at: datetime, tz: tzinfo | None) -> tuple[datetime, Any]:
    """An instant and the UTC offset it is shown with."""
    return at.astimezone(UTC), at.astimezone(tz).utcoffset()


def shown(bucket: dict[str, Any]) -> dict[str, Any]:
    start, end = datetime.fromisoformat(bucket["start"]), datetime.fromisoformat(bucket["end"])
    return {**bucket, "start": moment(start, start.tzinfo), "end": moment(end, end.tzinfo)}


async def check_reports(
    client: httpx.AsyncClient,
    stored: Stored,
    tz: ZoneInfo,
    span: tuple[date, date, str],
    site: str | None = None,
) -> None:
    """Summary, timeseries and CTAs of one range (of `site`), each against the brute force."""
    start_date, end_date, interval = span
    echo = {"start_date": start_date.isoformat(), "end_date": end_date.isoformat(), "tz": tz.key}
    events = stored.events
    params = echo if site is None else {**echo, "site": site}
    summary = await get_json(client, "/analytics/summary", **params)
    expected = brute_force.summary(events, start_date, end_date, tz)
    assert summary == {**echo, **expected, **NO_RATINGS}

    series = await get_json(client, "/analytics/timeseries", interval=interval, **params)
    expected_buckets = brute_force.timeseries(events, start_date, end_date, tz, interval)
    assert {key: series[key] for key in echo} == echo
    assert series["interval"] == interval
    assert [shown(bucket) for bucket in series["buckets"]] == [
        {**bucket, "start": moment(bucket["start"], tz), "end": moment(bucket["end"], tz)}
        for bucket in expected_buckets
    ]

    report = await get_json(client, "/analytics/ctas", **params)
    check_ctas(report, brute_force.ctas(events, start_date, end_date, tz))


def check_ctas(report: dict[str, Any], expected: dict[str | None, dict[str, Any]]) -> None:
    assert report["total_clicks"] == sum(want["clicks"] for want in expected.values())
    got = {entry["cta_id"]: dict(entry) for entry in report["ctas"]}
    assert len(got) == len(report["ctas"])
    assert got.keys() == expected.keys()
    for cta_id, entry in got.items():
        want = expected[cta_id]
        preceding = [(p["message"], p["clicks"]) for p in entry.pop("preceding_assistant_messages")]
        assert entry == {
            "cta_id": cta_id,
            **{key: want[key] for key in ("clicks", "unique_users", "converted_sessions")},
            "share_of_clicks": want["share_of_clicks"],
        }
        # Any of the equally common messages may fill the last places.
        assert len({message for message, _ in preceding}) == len(preceding)
        assert all(want["preceding"][message] == clicks for message, clicks in preceding)
        assert [clicks for _, clicks in preceding] == brute_force.top_counts(want["preceding"])


async def check_all(
    client: httpx.AsyncClient, stored: Stored, scenario: Scenario, site: str | None = None
) -> None:
    for span in scenario.spans:
        await check_reports(client, stored, scenario.tz, span, site)


async def ingest(client: httpx.AsyncClient, engine: Engine, scenario: Scenario) -> Stored:
    empty(engine)
    stored = Stored()
    steps = zip(scenario.requests, scenario.use_update, scenario.compact_after, strict=True)
    for batch, update, fold in steps:
        await post(client, stored, batch, update)
        if fold:  # else the deltas stay pending (unless the app's compactor runs meanwhile)
            with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
                compact_all(connection)
    return stored


@settings(PROPERTY, max_examples=40)
@given(scenario=scenarios())
async def test_reports_match_brute_force(
    client: httpx.AsyncClient, engine: Engine, scenario: Scenario
) -> None:
    stored = await ingest(client, engine, scenario)
    await check_all(client, stored, scenario)


async def erase(client: httpx.AsyncClient, stored: Stored, user_id: str) -> None:
    response = await client.delete(f"/users/{user_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": user_id, "deleted_events": stored.erase(user_id)}


@PROPERTY
@given(scenario=scenarios())
async def test_reports_stay_exact_after_erasure(
    client: httpx.AsyncClient, engine: Engine, scenario: Scenario
) -> None:
    stored = await ingest(client, engine, scenario)
    for user_id in scenario.erased:
        await erase(client, stored, user_id)
        await check_all(client, stored, scenario)
    await erase(client, stored, scenario.erased[0])  # a repeat deletes nothing and changes nothing
    await check_all(client, stored, scenario)
    if scenario.late:
        await post(client, stored, scenario.late, update=False)
        await check_all(client, stored, scenario)


def keys_without_events(engine: Engine) -> list[Any]:
    """User and session keys whose id has no event left: retention must delete them."""
    query = (
        "SELECT user_id FROM user_key WHERE user_id NOT IN (SELECT user_id FROM event) "
        "UNION ALL SELECT session_id FROM session_key "
        "WHERE session_id NOT IN (SELECT session_id FROM event)"
    )
    with engine.connect() as connection:
        return list(connection.execute(text(query)).scalars())


@PROPERTY
@given(scenario=scenarios(), pick=st.integers(0, 1000), days_later=st.integers(0, 1))
async def test_reports_stay_exact_after_retention(
    client: httpx.AsyncClient, engine: Engine, scenario: Scenario, pick: int, days_later: int
) -> None:
    stored = await ingest(client, engine, scenario)
    if stored.events:  # cut at the start of (or the day after) the UTC day of one event
        chosen = sorted(event.at for event in stored.events)[pick % len(stored.events)]
        cut = floor(chosen, DAY) + days_later * DAY
    else:
        cut = datetime(2025, 1, 1, tzinfo=UTC)
    days = 30
    deleted = apply_retention(engine, days, now=cut + days * DAY + timedelta(hours=5))
    kept = [event for event in stored.events if event.at >= cut]
    assert deleted == len(stored.events) - len(kept)
    stored.events = kept
    await check_all(client, stored, scenario)
    assert keys_without_events(engine) == []
    assert apply_retention(engine, days, now=cut + days * DAY) == 0  # a repeat deletes nothing
    if scenario.late:  # old events still come in when RETENTION_DAYS is not set
        await post(client, stored, scenario.late, update=False)
        await check_all(client, stored, scenario)
