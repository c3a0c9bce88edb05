"""User traits ($set, $set_once, $unset; Segment identify) are the fold of the events that carry
them in event time order, whatever order the events arrive in, however they are batched and
re-sent, and after retention deletes old days: checked against a brute force on SQLite and
PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.derived.profiles import apply, traits_of, update_profiles
from plugin_analytics.ingest.store import prepare, store_for
from plugin_analytics.privacy.retention import apply_retention, retention_cut
from tests.conftest import ADMIN
from tests.helpers import empty

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC).replace(microsecond=0)
USERS = ("ana", "ben")
TRAITS = ("plan", "email", "seats")
VALUES = ("free", "pro", 3, None, {"nested": [1, "x"]})


def test_one_event_applies_set_once_then_set_then_unset() -> None:
    traits: dict[str, Any] = {"plan": "free", "seats": 1}
    apply(
        traits,
        {
            "$set_once": {"plan": "pro", "email": "a@example.com"},
            "$set": {"seats": 5, "email": "b@example.com"},
            "$unset": ["plan", 7],  # a name that is not text is ignored
        },
    )
    assert traits == {"seats": 5, "email": "b@example.com"}


def test_malformed_changes_are_ignored() -> None:
    traits: dict[str, Any] = {"plan": "free"}
    apply(traits, {"$set": ["plan"], "$set_once": "x", "$unset": "plan"})
    assert traits == {"plan": "free"}


def change(draw: st.DrawFn) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for op in draw(st.sets(st.sampled_from(("$set", "$set_once", "$unset")), min_size=1)):
        names = draw(st.lists(st.sampled_from(TRAITS), min_size=1, max_size=3, unique=True))
        if op == "$unset":
            ops[op] = names
        else:
            ops[op] = {name: draw(st.sampled_from(VALUES)) for name in names}
    return ops


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=14))
    events = []
    for n in range(count):
        # Whole days back, so retention has whole days to cut; equal times tie-break by id.
        days_ago = draw(st.sampled_from((1, 5, 40, 41, 90)))
        seconds = draw(st.sampled_from((0, 0, 7, 3600)))
        events.append(
            {
                "event_id": f"ev-{draw(st.integers(0, 10**6)):07d}-{n}",
                "user_id": draw(st.sampled_from(USERS)),
                "session_id": "s",
                "event_type": "message",
                "message": "hi",
                "timestamp": (NOW - timedelta(days=days_ago, seconds=seconds)).isoformat(),
                "properties": change(draw),
            }
        )
    order = draw(st.permutations(events))
    resent = draw(st.lists(st.sampled_from(events), max_size=3))
    sizes = draw(st.lists(st.integers(1, 4), min_size=len(order) + len(resent)))
    return {"events": events, "arrivals": [*order, *resent], "sizes": sizes}


def expected(stored: list[dict[str, Any]], user_id: str) -> dict[str, Any] | None:
    """The fold of `stored` (in the order they were stored) in event time order; events of
    the same time in the order stored."""
    mine = sorted(
        (e for e in stored if e["user_id"] == user_id),
        key=lambda e: datetime.fromisoformat(e["timestamp"]),  # a stable sort
    )
    if not mine:
        return None
    traits: dict[str, Any] = {}
    for event in mine:
        # By hand, not profiles.apply: $set_once, then $set, then $unset.
        for name, value in event["properties"].get("$set_once", {}).items():
            traits.setdefault(name, value)
        traits.update(event["properties"].get("$set", {}))
        for name in event["properties"].get("$unset", []):
            traits.pop(name, None)
    return traits


async def traits(client: httpx.AsyncClient, user_id: str) -> dict[str, Any] | str | None:
    response = await client.get(f"/users/{user_id}/history", headers=ADMIN)
    if response.status_code == 404:
        return "no events"
    assert response.status_code == 200, response.text
    shown: dict[str, Any] | None = response.json()["traits"]
    return shown


async def check(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    for user_id in USERS:
        want = expected(events, user_id)
        has_events = any(e["user_id"] == user_id for e in events)
        assert await traits(client, user_id) == (want if has_events else "no events"), user_id


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_traits_are_the_fold_in_event_time_order(
    client: httpx.AsyncClient, engine: Engine, scenario: dict[str, Any]
) -> None:
    empty(engine)
    arrivals, sizes = scenario["arrivals"], iter(scenario["sizes"])
    while arrivals:
        size = next(sizes)
        batch, arrivals = arrivals[:size], arrivals[size:]
        response = await client.post("/client/batch", json={"events": batch})
        assert response.status_code == 200, response.text
    stored = list({e["event_id"]: e for e in scenario["arrivals"]}.values())  # first copies
    await check(client, stored)

    # Retention deletes the days before the cut; profiles are folded from what remains.
    assert apply_retention(engine, 30, NOW) >= 0
    cut = retention_cut(30, NOW)
    kept = [e for e in stored if datetime.fromisoformat(e["timestamp"]) >= cut]
    await check(client, kept)
    with engine.connect() as connection:
        profiles = set(connection.execute(text("SELECT user_id FROM user_profile")).scalars())
    assert profiles == {e["user_id"] for e in kept}


async def test_erasure_deletes_the_profile(client: httpx.AsyncClient, engine: Engine) -> None:
    for user_id in ("ana", "ben"):
        response = await client.post(
            "/client/update",
            json={
                "user_id": user_id,
                "session_id": "s",
                "event_type": "message",
                "message": "hi",
                "properties": {"$set": {"email": f"{user_id}@example.com"}},
            },
        )
        assert response.status_code == 200, response.text
    assert (await client.delete("/users/ana", headers=ADMIN)).status_code == 200
    with engine.connect() as connection:
        left = connection.execute(text("SELECT user_id FROM user_profile")).scalars().all()
    assert left == ["ben"]
    assert await traits(client, "ben") == {"email": "ben@example.com"}


async def test_a_late_event_between_two_folded_ones_is_folded_in_its_place(
    client: httpx.AsyncClient,
) -> None:
    def at(minutes: int, value: str, event_id: str) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "user_id": "ana",
            "session_id": "s",
            "event_type": "message",
            "message": "hi",
            "timestamp": (NOW - timedelta(minutes=minutes)).isoformat(),
            "properties": {"$set": {"plan": value}, "$set_once": {"first": value}},
        }

    events = [at(30, "free", "a"), at(10, "pro", "c"), at(20, "team", "b")]
    for event in events:
        assert (await client.post("/client/update", json=event)).status_code == 200
    assert await traits(client, "ana") == {"plan": "pro", "first": "free"}


def test_a_worker_waits_for_another_folding_the_same_profile(
    engine: Engine, database_url: str
) -> None:
    """PostgreSQL: while one transaction folds a change into a profile, another folding into
    the same profile waits for it and then sees it, so neither change is lost."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writing transaction at a time: nothing to wait for")
    store = store_for("postgresql")

    def change(minutes: int, event_id: str, plan: str) -> list[Any]:
        body = {
            "event_id": event_id,
            "user_id": "ana",
            "session_id": "s",
            "event_type": "message",
            "message": "hi",
            "timestamp": NOW - timedelta(minutes=minutes),
            "properties": {"$set": {"plan": plan}, "$set_once": {"first": plan}},
        }
        return prepare([body], NOW, DEFAULT_SITE_NUM)  # type: ignore[list-item]

    def fold_in(connection: Connection, rows: list[Any]) -> None:
        update_profiles(connection, store.insert(connection, rows))

    with engine.begin() as connection:
        fold_in(connection, change(30, "a", "free"))
    holder = engine.connect()
    holder.begin()
    fold_in(holder, change(10, "c", "pro"))  # holds the profile until it commits

    def second() -> None:
        with engine.begin() as connection:  # arrives late: folded between the other two
            fold_in(connection, change(20, "b", "team"))

    waiting = threading.Thread(target=second)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive(), "the second transaction did not wait for the profile"
    holder.commit()
    holder.close()
    waiting.join(timeout=10)
    with engine.connect() as connection:
        assert traits_of(connection, DEFAULT_SITE_NUM, "ana") == {"plan": "pro", "first": "free"}
