"""Demo data: realistic conversations stored through ingestion's path, rollups included."""

import itertools
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from pyroaring import BitMap
from sqlalchemy import select
from typer.testing import CliRunner

from plugin_analytics.cli import app as cli
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import rollup_table
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.demo import DemoPlan, generate, load, make_plan
from plugin_analytics.ingest.schemas import EventCreate, ValidEvent
from tests.conftest import OperatorEnv, migrate
from tests.helpers import stored_events

EVENTS = 5000
DAYS = 7
END = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def fill(database_url: str, plan: DemoPlan) -> int:
    engine = build_engine(database_url)
    try:
        return load(engine, generate(plan), chunk_events=1000).stored
    finally:
        engine.dispose()


def day_rollups(database_url: str) -> dict[str, Any]:
    """The day rollups added up: counts, and the unions of their sets."""
    engine = build_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(select(rollup_table).where(rollup_table.c.grain == "day")).all()
    engine.dispose()
    total: dict[str, Any] = Counter()
    for name in ("users", "sessions", "converted_sessions"):
        total[name] = BitMap()
    for row in rows:
        for name in ("user_messages", "assistant_messages", "cta_clicks"):
            total[name] += getattr(row, name)
        for name in ("users", "sessions", "converted_sessions"):
            total[name] |= BitMap.deserialize(getattr(row, name))
    return total


def test_demo_fills_the_window_with_conversations_and_exact_rollups(database_url: str) -> None:
    plan = make_plan(events=EVENTS, days=DAYS, seed=3, end=END)
    assert fill(database_url, plan) == EVENTS
    events = stored_events(database_url)
    assert len(events) == EVENTS
    times = [event["occurred_at"] for event in events]
    assert from_epoch_us(plan.start_us) <= min(times)
    assert max(times) < END
    assert len({time.date() for time in times}) >= DAYS  # spread over the whole window
    kinds = Counter((event["event_type"], event["role"]) for event in events)
    assert kinds[("message", "user")] > 0
    assert kinds[("message", "assistant")] > 0
    clicks = [event for event in events if event["event_type"] == "cta_click"]
    assert clicks
    assert all(click["cta_id"] for click in clicks)
    sessions = {event["session_id"] for event in events}
    assert EVENTS / 100 <= len(sessions) <= EVENTS / 25
    assert len({event["user_id"] for event in events}) <= plan.users
    converted = {click["session_id"] for click in clicks}
    assert 0 < len(converted) < len(sessions) / 5  # a few percent of sessions convert

    rollups = day_rollups(database_url)
    counted = rollups["user_messages"] + rollups["assistant_messages"] + rollups["cta_clicks"]
    assert counted == EVENTS
    assert rollups["cta_clicks"] == len(clicks)
    assert rollups["assistant_messages"] == kinds[("message", "assistant")]
    assert len(rollups["users"]) == len({event["user_id"] for event in events})
    assert len(rollups["sessions"]) == len(sessions)
    assert len(rollups["converted_sessions"]) == len(converted)


def test_conversations_alternate_and_click_after_an_assistant_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate(url)
    fill(url, make_plan(events=EVENTS, days=DAYS, seed=5, end=END))
    by_session: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(stored_events(url), key=lambda event: event["occurred_at"]):
        by_session.setdefault(event["session_id"], []).append(event)
    assert len({conversation[0]["message"] for conversation in by_session.values()}) > 20
    for conversation in by_session.values():
        messages = [event for event in conversation if event["event_type"] == "message"]
        assert [event["role"] for event in messages[:2]] == ["user", "assistant"][: len(messages)]
        assert all(a["role"] != b["role"] for a, b in itertools.pairwise(messages))
        assert len({event["user_id"] for event in conversation}) == 1
        for before, event in itertools.pairwise(conversation):
            if event["event_type"] == "cta_click":
                assert (before["event_type"], before["role"]) == ("message", "assistant")
            assert 0 < (event["occurred_at"] - before["occurred_at"]).total_seconds() < 15 * 60


def sent_at(event: EventCreate) -> datetime:
    """The time the demo gave an event (it gives every event one)."""
    timestamp = event.get("timestamp")
    assert timestamp is not None
    return timestamp


def test_more_conversations_on_weekdays_in_business_hours() -> None:
    plan = make_plan(events=20_000, days=28, seed=11, end=END)
    times = [sent_at(event) for event in generate(plan)]
    hours = Counter(time.hour for time in times)
    assert sum(hours[hour] for hour in range(9, 17)) > 3 * sum(hours[hour] for hour in range(8))
    weekdays = Counter(time.weekday() for time in times)
    assert sum(weekdays[day] for day in range(5)) / 5 > 1.3 * (weekdays[5] + weekdays[6]) / 2


def test_same_seed_same_events_in_time_order_as_ingestion_accepts_them() -> None:
    first = list(generate(make_plan(events=EVENTS, days=DAYS, seed=9, end=END)))
    assert first == list(generate(make_plan(events=EVENTS, days=DAYS, seed=9, end=END)))
    assert first != list(generate(make_plan(events=EVENTS, days=DAYS, seed=10, end=END)))
    assert [sent_at(event) for event in first] == sorted(sent_at(e) for e in first)
    assert len({event["event_id"] for event in first}) == EVENTS
    validate = TypeAdapter(ValidEvent).validate_json
    for event in first[:200]:
        sent = json.dumps({**event, "timestamp": sent_at(event).isoformat()})
        assert validate(sent) == event


def test_loading_the_same_plan_twice_stores_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate(url)
    plan = make_plan(events=2000, days=2, seed=1, end=END)
    assert fill(url, plan) == 2000
    before = day_rollups(url)
    assert fill(url, plan) == 0
    assert len(stored_events(url)) == 2000
    assert day_rollups(url) == before


@pytest.fixture
def database_env(operator_env: OperatorEnv) -> Callable[[Path], str]:
    """Aims DATABASE_URL at a SQLite file."""

    def aim_at(path: Path) -> str:
        url = f"sqlite:///{path}"
        operator_env(DATABASE_URL=url)
        return url

    return aim_at


def test_demo_command_fills_a_migrated_database(
    tmp_path: Path, database_env: Callable[[Path], str]
) -> None:
    url = database_env(tmp_path / "cli.db")
    migrate(url)
    result = CliRunner().invoke(cli, ["demo", "--events", "3000", "--days", "3", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "Stored 3,000 events" in result.output
    assert len(stored_events(url)) == 3000


def test_demo_command_refuses_an_unmigrated_database(
    tmp_path: Path, database_env: Callable[[Path], str]
) -> None:
    database_env(tmp_path / "missing.db")
    result = CliRunner().invoke(cli, ["demo", "--events", "100"])
    assert result.exit_code == 2
    assert "not migrated" in result.output
    assert "plugin-analytics migrate" in result.output
    assert not (tmp_path / "missing.db").exists()

    url = database_env(tmp_path / "old.db")
    migrate(url, "0001")
    result = CliRunner().invoke(cli, ["demo", "--events", "100"])
    assert result.exit_code == 2
    assert "at 0001" in result.output
