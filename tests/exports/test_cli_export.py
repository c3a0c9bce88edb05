"""`plugin-analytics export`: the operator's export, the same bytes as the endpoint's."""

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plugin_analytics.cli import app as cli
from plugin_analytics.db.engine import build_engine
from plugin_analytics.demo import generate, load, make_plan
from tests.conftest import OperatorEnv
from tests.helpers import stored_events

EVENTS = 3000


@pytest.fixture
def filled(database_url: str, operator_env: OperatorEnv) -> str:
    engine = build_engine(database_url)
    plan = make_plan(events=EVENTS, days=3, seed=4, end=datetime(2026, 3, 4, tzinfo=UTC))
    load(engine, generate(plan))
    engine.dispose()
    operator_env(DATABASE_URL=database_url, ADMIN_API_KEY="cli-admin-key-0123456789")
    return database_url


def test_export_writes_every_event_in_time_order(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    result = CliRunner().invoke(cli, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {EVENTS:,} events" in result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == ["event_id", "user_id", "session_id", "event_type", "timestamp", "message"]
    stored = sorted(stored_events(filled), key=lambda e: (e["occurred_at"], e["id"]))
    assert [row[0] for row in rows[1:]] == [event["event_id"] for event in stored]
    assert not list(tmp_path.glob("*.partial"))


def test_export_filters_and_gzips_ndjson(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "clicks.ndjson.gz"
    args = ["export", "--out", str(out), "--format", "ndjson", "--event-type", "cta_click"]
    args += ["--start-date", "2026-03-01", "--end-date", "2026-03-02", "--tz", "Asia/Kolkata"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    start = datetime(2026, 2, 28, 18, 30, tzinfo=UTC)
    end = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)
    expected = [
        e["event_id"]
        for e in sorted(stored_events(filled), key=lambda e: (e["occurred_at"], e["id"]))
        if e["event_type"] == "cta_click" and start <= e["occurred_at"] < end
    ]
    assert expected, "the demo data should have clicks that day"
    assert [line["event_id"] for line in lines] == expected


def test_export_refuses_a_bad_range_without_writing(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    args = ["export", "--out", str(out), "--start-date", "2026-03-05", "--end-date", "2026-03-01"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "end_date 2026-03-01 is before start_date 2026-03-05" in result.output
    assert not out.exists()
