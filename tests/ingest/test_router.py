"""POST /client/update and /client/batch through the app, on SQLite and PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio


async def test_event_is_stored_with_every_field(
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = event(
        event_id="evt-1",
        role="assistant",
        cta_id=None,
        properties={"page": "/pricing"},
        timestamp="2026-03-29T01:30:00+02:00",
    )
    response = await client.post("/client/update", json=body)
    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    [row] = stored_events(database_url)
    assert row["event_id"] == "evt-1"
    assert (row["user_id"], row["session_id"], row["role"]) == ("user-1", "session-1", "assistant")
    assert row["message"] == "Do you ship to Norway?"
    assert row["properties"] == {"page": "/pricing"}
    assert row["occurred_at"] == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert abs(row["received_at"] - datetime.now(UTC)) < timedelta(minutes=1)


async def test_defaults_for_optional_fields(client: httpx.AsyncClient, database_url: str) -> None:
    before = datetime.now(UTC)
    assert (await client.post("/client/update", json=event())).status_code == 200
    [row] = stored_events(database_url)
    assert row["role"] == "user"
    assert row["occurred_at"] == row["received_at"]
    assert before <= row["occurred_at"] <= datetime.now(UTC)
    assert len(row["event_id"]) == 36
    assert row["event_id"][14] == "7"


async def test_same_event_id_is_stored_once(client: httpx.AsyncClient, database_url: str) -> None:
    for _ in range(3):
        response = await client.post("/client/update", json=event(event_id="retry-me"))
        assert response.json() == {"status": "success"}
    assert [row["event_id"] for row in stored_events(database_url)] == ["retry-me"]


async def test_concurrent_posts_of_one_event_id(
    client: httpx.AsyncClient, database_url: str
) -> None:
    posts = [client.post("/client/update", json=event(event_id="same")) for _ in range(50)]
    responses = await asyncio.gather(*posts)
    assert {r.status_code for r in responses} == {200}
    assert len(stored_events(database_url)) == 1


async def test_many_concurrent_events_are_all_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    posts = [client.post("/client/update", json=event(event_id=f"e{i}")) for i in range(300)]
    responses = await asyncio.gather(*posts)
    assert {r.status_code for r in responses} == {200}
    assert sorted(row["event_id"] for row in stored_events(database_url)) == sorted(
        f"e{i}" for i in range(300)
    )


async def test_batch_counts_new_and_duplicates(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/client/update", json=event(event_id="old"))
    events = [
        event(event_id="old"),
        event(event_id="a"),
        event(event_id="b"),
        event(event_id="a"),
        event(event_id="c", event_type="cta_click", cta_id="book-demo", message=""),
    ]
    response = await client.post("/client/batch", json={"events": events})
    assert response.status_code == 200
    assert response.json() == {"status": "success", "received": 5, "new": 3, "duplicates": 2}
    rows = stored_events(database_url)
    assert [row["event_id"] for row in rows] == ["old", "a", "b", "c"]
    assert rows[-1]["cta_id"] == "book-demo"
