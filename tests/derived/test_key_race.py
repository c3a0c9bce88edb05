"""Deleting user and session keys (retention, erasure) while events of the same users arrive.

If an event took a user's number while retention deleted that number's key, the user's next
event would get a new number, and the user would be counted twice. Every number a rollup holds
must therefore still have its key."""

from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from pyroaring import BitMap
from sqlalchemy import Engine, text

from plugin_analytics.db.engine import build_engine
from plugin_analytics.derived.rollups import compact_all
from plugin_analytics.privacy.retention import apply_retention
from tests.helpers import event

pytestmark = pytest.mark.anyio

USERS = 20
ROUNDS = 150


def dangling_numbers(engine: Engine) -> tuple[BitMap, BitMap]:
    """User and session numbers found in rollups that no key has."""
    with engine.begin() as connection:
        compact_all(connection)
        users, sessions = BitMap(), BitMap()
        for blob_users, blob_sessions in connection.execute(
            text("SELECT users, sessions FROM rollup")
        ):
            users |= BitMap.deserialize(blob_users)
            sessions |= BitMap.deserialize(blob_sessions)
        users -= BitMap(connection.execute(text("SELECT num FROM user_key")).scalars())
        sessions -= BitMap(connection.execute(text("SELECT num FROM session_key")).scalars())
    return users, sessions


async def test_keys_deleted_by_retention_never_leave_an_event_without_its_key(
    client: httpx.AsyncClient, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writing transaction at a time: no race to lose")
    engine = build_engine(database_url)
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    try:
        for round_ in range(ROUNDS):
            names = [f"r{round_}-u{n}" for n in range(USERS)]
            old_events = [
                event(event_id=f"{name}-old", user_id=name, session_id=name, timestamp=old)
                for name in names
            ]
            response = await client.post("/client/batch", json={"events": old_events})
            assert response.status_code == 200, response.text

            async def returning(name: str) -> None:
                body = event(event_id=f"{name}-new", user_id=name, session_id=name)
                assert (await client.post("/client/update", json=body)).status_code == 200

            async def retention() -> None:
                await anyio.to_thread.run_sync(apply_retention, engine, 30)

            async with anyio.create_task_group() as group:
                group.start_soon(retention)
                for name in names:
                    group.start_soon(returning, name)
            assert dangling_numbers(engine) == (BitMap(), BitMap())
        summary = await client.get(
            "/analytics/summary",
            headers={"Authorization": "Bearer test-admin-key-0123456789"},
        )
        assert summary.json()["unique_users"] == USERS * ROUNDS
    finally:
        engine.dispose()
