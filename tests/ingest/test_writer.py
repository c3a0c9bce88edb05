"""The group-commit writer: requests share commits, and each request's counts are its own."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event as sa_event

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.db.types import to_epoch_us
from plugin_analytics.errors import APIError
from plugin_analytics.ingest import store as ingest_store
from plugin_analytics.ingest.store import COLUMNS, PostgresEventStore, StoredRow, prepare
from plugin_analytics.ingest.writer import EventWriter, WriteResult
from plugin_analytics.services import services_of
from tests.conftest import ADMIN
from tests.helpers import created, event, stored_events

SITE = DEFAULT_SITE_NUM

pytestmark = pytest.mark.anyio


def test_a_stored_row_is_read_by_the_name_of_each_column() -> None:
    positions = {name: getattr(ingest_store, name.upper()) for name in COLUMNS}
    assert positions == {name: n for n, name in enumerate(COLUMNS)}
    named = created(event_id="named", user_id="ana")
    (row,) = prepare([named], datetime.now(UTC), DEFAULT_SITE_NUM)
    assert (row[ingest_store.EVENT_ID], row[ingest_store.USER_ID]) == ("named", "ana")


async def test_concurrent_requests_share_commits(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    commits = 0

    def count(*_: Any) -> None:
        nonlocal commits
        commits += 1

    sa_event.listen(services_of(app).writer.engine, "commit", count)
    try:
        posts = [client.post("/client/update", json=event(event_id=f"e{i}")) for i in range(200)]
        assert {r.status_code for r in await asyncio.gather(*posts)} == {200}
    finally:
        sa_event.remove(services_of(app).writer.engine, "commit", count)
    assert len(stored_events(database_url)) == 200
    assert 1 <= commits <= 20, f"{commits} commits for 200 requests: not grouped"


async def test_each_request_is_credited_its_own_new_events(app: FastAPI, database_url: str) -> None:
    writer: EventWriter = services_of(app).writer
    now = datetime.now(UTC)
    first, second, third = await asyncio.gather(
        writer.write([created(event_id="x"), created(event_id="y")], now, SITE),
        writer.write(
            [created(event_id="y"), created(event_id="z"), created(event_id="z")], now, SITE
        ),
        writer.write([created(event_id="x")], now, SITE),
    )
    assert first == WriteResult(new=2, duplicates=0)
    assert second == WriteResult(new=1, duplicates=2)
    assert third == WriteResult(new=0, duplicates=1)
    assert [row["event_id"] for row in stored_events(database_url)] == ["x", "y", "z"]


async def test_a_full_queue_refuses_with_503(database_url: str) -> None:
    engine = build_engine(database_url)
    writer = EventWriter(engine, max_queued_rows=3)
    await writer.start()
    try:
        now = datetime.now(UTC)
        with pytest.raises(APIError) as refused:
            await writer.write([created(event_id=f"big{i}") for i in range(4)], now, SITE)
        assert refused.value.status_code == 503
        assert "overloaded" in refused.value.detail
        assert await writer.write([created(event_id="fits")], now, SITE) == WriteResult(1, 0)
    finally:
        await writer.stop()
        engine.dispose()
    assert [row["event_id"] for row in stored_events(database_url)] == ["fits"]


async def test_stop_commits_what_is_queued(database_url: str) -> None:
    engine = build_engine(database_url)
    writer = EventWriter(engine)
    await writer.start()
    now = datetime.now(UTC)
    pending = [
        asyncio.create_task(writer.write([created(event_id=f"q{i}")], now, SITE)) for i in range(50)
    ]
    await asyncio.sleep(0)  # let every request reach the queue
    await writer.stop()
    engine.dispose()
    assert await asyncio.wait_for(asyncio.gather(*pending), 10) == [WriteResult(1, 0)] * 50
    assert len(stored_events(database_url)) == 50


async def test_a_group_touching_thousands_of_periods(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A backfill whose events each fall on another day: 6,000 quarters, hours and days, more
    # rollup rows than SQLite accepts bound parameters in one statement.
    first = datetime(2005, 1, 1, 12, tzinfo=UTC)
    events = [
        created(event_id=f"old{n}", timestamp=first + timedelta(days=n, minutes=n % 60))
        for n in range(6000)
    ]
    result = await services_of(app).writer.write(events, datetime.now(UTC), SITE)
    assert result == WriteResult(new=6000, duplicates=0)
    summary = await client.get(
        "/analytics/summary",
        params={"start_date": "2005-01-01", "end_date": "2007-12-31"},
        headers=ADMIN,
    )
    assert summary.status_code == 200, summary.text
    assert summary.json()["total_messages"] == 1095  # one a day over those 1,095 days


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_workers_storing_the_same_new_ids_in_opposite_orders_do_not_deadlock(
    database_url: str,
) -> None:
    """Two workers insert the same new event_ids at the same moment, in opposite arrival
    orders (a client retrying on another worker). Each waits for the other at the first id they
    share, and never in a cycle: PostgreSQL aborts neither (no deadlock to retry)."""
    engine = build_engine(database_url)
    store = PostgresEventStore()
    barrier = threading.Barrier(2)
    received = to_epoch_us(datetime.now(UTC))

    def insert(rows: list[StoredRow]) -> int:
        with engine.begin() as connection:
            barrier.wait()
            stored, _ = store.insert_numbered(connection, rows)
        return len(stored)

    try:
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(10):
                rows: list[StoredRow] = [
                    (f"r{round_}-{i:05}", f"u{i}", f"s{i}", "message", "user", "hi", None, None,
                     received, received, None, None, None, None, SITE)
                    for i in range(3000)
                ]  # fmt: skip
                both = pool.map(insert, [rows, rows[::-1]])
                assert sum(both) == len(rows)  # each id stored once, by one of the two
    finally:
        engine.dispose()
    assert len(stored_events(database_url)) == 30_000
