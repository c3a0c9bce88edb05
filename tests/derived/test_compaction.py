"""Rollup deltas: ingestion only inserts them, compaction folds each into the rollup rows once,
and readers count the pending ones, so reports are the same before and after folding."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, text

from plugin_analytics.analytics.queries import activity_in
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM, rollup_delta_table, rollup_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.db.types import to_epoch_us
from plugin_analytics.derived.activity import Activity
from plugin_analytics.derived.periods import DAY_US
from plugin_analytics.derived.rollups import compact
from plugin_analytics.ingest.schemas import EventCreate
from plugin_analytics.ingest.writer import EventWriter
from tests.helpers import empty, event

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 2, tzinfo=UTC)
START_US = to_epoch_us(START)


@pytest.fixture
async def writer(engine: Engine) -> AsyncIterator[EventWriter]:
    """A writer that never compacts on its own (only when told to)."""
    writer = EventWriter(engine, compact_interval=3600)
    await writer.start()
    yield writer
    await writer.stop()
    engine.dispose()


def events(count: int, day: int = 0) -> list[Any]:
    """Messages and clicks of a few users and sessions, spread over the day's hours (as the
    writer takes them: validated, times parsed)."""
    at = START + timedelta(days=day)
    return [
        event(
            event_id=f"d{day}-e{n}",
            user_id=f"user-{n % 7}",
            session_id=f"session-{n % 11}",
            role="assistant" if n % 3 else "user",
            timestamp=at + timedelta(minutes=37 * n),
            **({"event_type": "cta_click", "cta_id": "demo"} if n % 10 == 9 else {}),
        )
        for n in range(count)
    ]


def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def report(engine: Engine, days: int = 3) -> tuple[Any, ...]:
    with engine.connect() as connection:
        activity = activity_in(connection, DEFAULT_SITE_NUM, START_US, START_US + days * DAY_US)
    return shape(activity)


def shape(activity: Activity) -> tuple[Any, ...]:
    return (*activity.counts(), *activity.sizes())


async def write_days(writer: EventWriter, days: int = 3) -> None:
    """events(30, day) of each day, one write a day."""
    for day in range(days):
        await writer.write(events(30, day), datetime.now(UTC), DEFAULT_SITE_NUM)


def fold(engine: Engine, **options: Any) -> int:
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        return compact(connection, **options)


async def test_ingestion_only_inserts_deltas_and_folding_keeps_the_numbers(
    engine: Engine, writer: EventWriter
) -> None:
    await write_days(writer)
    assert rows(engine, rollup_table) == 0
    assert rows(engine, rollup_delta_table) > 0
    pending = report(engine)
    # 30 events a day: 27 messages (9 by users) and 3 clicks; 7 users, 11 sessions.
    assert pending == (3 * 9, 3 * 18, 3 * 3, 7, 11, 3)

    writer.compact()
    assert rows(engine, rollup_delta_table) == 0
    assert rows(engine, rollup_table) > 0
    assert report(engine) == pending


async def test_a_report_counts_folded_rows_and_pending_deltas_together(
    engine: Engine, writer: EventWriter
) -> None:
    now = datetime.now(UTC)
    await writer.write(events(30, 0), now, DEFAULT_SITE_NUM)
    writer.compact()
    await writer.write(events(30, 1), now, DEFAULT_SITE_NUM)
    # Same day as folded rows, other sessions: the day row and the new delta must add up.
    late = [
        cast(EventCreate, {**e, "event_id": f"late-{e['event_id']}", "session_id": "other"})
        for e in events(30)
    ]
    await writer.write(late, now, DEFAULT_SITE_NUM)
    assert rows(engine, rollup_delta_table) > 0
    # The late clicks convert the session "other" too.
    assert report(engine) == (3 * 9, 3 * 18, 3 * 3, 7, 12, 4)


async def test_a_limited_fold_takes_the_oldest_deltas_and_leaves_the_rest(
    engine: Engine, writer: EventWriter
) -> None:
    await write_days(writer)
    before, expected = rows(engine, rollup_delta_table), report(engine)
    assert fold(engine, limit=2) == 2
    assert rows(engine, rollup_delta_table) == before - 2
    assert report(engine) == expected


async def test_concurrent_compactions_fold_each_delta_once(
    engine: Engine, writer: EventWriter
) -> None:
    now = datetime.now(UTC)
    for day in range(3):
        for part in range(5):
            await writer.write(events(30, day)[part::5], now, DEFAULT_SITE_NUM)
    expected = report(engine)
    barrier = threading.Barrier(4)

    def compactor(wait: bool) -> None:
        """Waiting: fold until none is left. Not waiting: until another one holds the lock."""
        barrier.wait()
        while fold(engine, wait=wait, limit=3) == 3:
            pass

    threads = [threading.Thread(target=compactor, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rows(engine, rollup_delta_table) == 0
    assert report(engine) == expected


def until_a_transaction_waits_for_a_lock(engine: Engine) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    with engine.connect() as connection:
        while not connection.execute(query).scalar_one():
            time.sleep(0.01)
            connection.rollback()


async def test_emptying_the_database_waits_for_a_compaction_under_way(
    engine: Engine, writer: EventWriter
) -> None:
    """The suite's hypothesis examples share a database and empty it while the app's compactor
    may be folding: the rows it inserts must not outlive the emptying."""
    if engine.dialect.name == "sqlite":
        pytest.skip("a SQLite transaction that writes holds the only write lock")
    await write_days(writer)
    with write_transaction(engine) as folding:
        assert compact(folding, wait=True) > 0  # rollup rows inserted, not committed yet
        emptying = threading.Thread(target=empty, args=(engine,))
        emptying.start()
        until_a_transaction_waits_for_a_lock(engine)
    emptying.join()
    assert rows(engine, rollup_table) == rows(engine, rollup_delta_table) == 0


async def test_stopping_the_writer_folds_what_is_pending(database_url: str) -> None:
    engine = build_engine(database_url)
    writer = EventWriter(engine, compact_interval=3600)
    await writer.start()
    await writer.write(events(30), datetime.now(UTC), DEFAULT_SITE_NUM)
    expected = report(engine)
    await writer.stop()
    assert rows(engine, rollup_delta_table) == 0
    assert report(engine) == expected
    engine.dispose()


async def test_the_server_folds_deltas_within_seconds(
    app: FastAPI, client: httpx.AsyncClient, engine: Engine
) -> None:
    bodies = [{**e, "timestamp": e["timestamp"].isoformat()} for e in events(30)]
    response = await client.post("/client/batch", json={"events": bodies})
    assert response.status_code == 200, response.text
    for _ in range(50):
        if rows(engine, rollup_delta_table) == 0:
            break
        await asyncio.sleep(0.1)
    assert rows(engine, rollup_delta_table) == 0
    assert rows(engine, rollup_table) > 0
    assert report(engine) == (9, 18, 3, 7, 11, 3)
    engine.dispose()
