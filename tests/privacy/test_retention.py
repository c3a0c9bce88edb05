"""RETENTION_DAYS and the audit log of erasures, by example (the property tests check that
analytics stay exact after either)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from plugin_analytics.cli import app as cli
from plugin_analytics.config import Settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.privacy.retention import RetentionSchedule, apply_retention, retention_cut
from tests.conftest import ADMIN, OperatorEnv, client_for
from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)


def days_ago(days: float, **fields: Any) -> dict[str, Any]:
    at = NOW - timedelta(days=days)
    return event(event_id=f"e-{days}", timestamp=at.isoformat(), **fields)


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> httpx.Response:
    return await client.post("/client/batch", json={"events": list(events)})


async def audit(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/audit", headers=ADMIN)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def test_the_cut_is_the_start_of_a_utc_day() -> None:
    now = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    assert retention_cut(30, now) == datetime(2026, 10, 25, tzinfo=UTC)
    assert retention_cut(1, datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)


async def test_retention_deletes_old_events_and_records_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await post(
        client,
        days_ago(45, user_id="gone", session_id="old"),
        days_ago(35, user_id="both", session_id="old"),
        days_ago(3, user_id="both", session_id="new"),
    )
    assert response.status_code == 200, response.text
    engine = build_engine(database_url)
    try:
        assert apply_retention(engine, 30) == 2
        with engine.connect() as connection:
            users = connection.execute(text("SELECT user_id FROM user_key")).scalars().all()
            sessions = connection.execute(text("SELECT session_id FROM session_key")).scalars()
            assert (sorted(users), sorted(sessions)) == (["both"], ["new"])
        assert apply_retention(engine, 30) == 0
    finally:
        engine.dispose()
    assert [row["event_id"] for row in stored_events(database_url)] == ["e-3"]
    (entry,) = await audit(client)  # the run that deleted nothing is not recorded
    assert entry["action"] == "retention"
    assert entry["rows"] == 2
    assert entry["detail"] == {
        "site": "default",
        "retention_days": 30,
        "before": retention_cut(30).isoformat(),
        "events": 2,
        "user_keys": 1,
        "session_keys": 1,
        "profiles_rebuilt": 0,
    }
    start = (NOW - timedelta(days=60)).date().isoformat()
    summary = await client.get(
        "/analytics/summary",
        params={"start_date": start, "end_date": NOW.date().isoformat()},
        headers=ADMIN,
    )
    assert summary.json()["total_messages"] == 1, summary.text
    assert summary.json()["unique_users"] == 1


async def test_ingestion_refuses_events_retention_would_delete(settings: Settings) -> None:
    settings = settings.model_copy(update={"retention_days": 30})
    async with client_for(settings) as client:
        response = await post(client, days_ago(1), days_ago(31), days_ago(29))
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "events", 1, "timestamp"]
        assert "RETENTION_DAYS (30 days)" in error["msg"]
        single = await client.post("/client/update", json=days_ago(30.01))
        assert single.status_code == 422
        assert single.json()["detail"][0]["loc"] == ["body", "timestamp"]
        assert (await client.get("/analytics/summary", headers=ADMIN)).json()["total_messages"] == 0
        ok = await post(client, days_ago(29.9), event(event_id="now"))
        assert ok.status_code == 200, ok.text


async def test_the_schedule_and_the_cli_apply_retention(
    database_url: str, client: httpx.AsyncClient, operator_env: OperatorEnv
) -> None:
    assert (await post(client, days_ago(40), days_ago(20), days_ago(1))).status_code == 200
    engine = build_engine(database_url)
    try:
        RetentionSchedule(engine, 30).run()
    finally:
        engine.dispose()
    assert len(stored_events(database_url)) == 2
    operator_env(DATABASE_URL=database_url)
    result = CliRunner().invoke(cli, ["retention", "--days", "10"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 events" in result.output
    assert [row["event_id"] for row in stored_events(database_url)] == ["e-1"]
    assert [entry["rows"] for entry in await audit(client)] == [1, 1]


async def test_erasure_is_audited_without_the_user(client: httpx.AsyncClient) -> None:
    secret = "erin@example.com"
    response = await post(
        client,
        event(event_id="a", user_id=secret, session_id="s-erin"),
        event(event_id="b", user_id=secret, session_id="shared"),
        event(event_id="c", user_id="other", session_id="shared"),
    )
    assert response.status_code == 200
    for _ in range(2):
        assert (await client.delete(f"/users/{secret}", headers=ADMIN)).status_code == 200
    again, first = await audit(client)
    assert first["action"] == again["action"] == "user_erased"
    assert first["rows"] == 2
    assert again["rows"] == 0
    assert first["detail"] == {"events": 2, "rollup_periods": 3, "sessions_forgotten": 1}
    assert datetime.fromisoformat(first["at"]) <= datetime.fromisoformat(again["at"])
    listing = (await client.get("/audit", headers=ADMIN)).text
    assert "erin" not in listing
    assert "s-erin" not in listing


async def test_the_audit_log_needs_the_admin_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/audit")).status_code == 401
    page = await client.get("/audit", params={"limit": 0}, headers=ADMIN)
    assert page.status_code == 422
