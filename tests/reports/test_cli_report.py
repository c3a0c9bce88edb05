"""`plugin-analytics report send|preview`: the operator's way to the same report."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plugin_analytics.cli import app as cli
from plugin_analytics.db.engine import build_engine
from plugin_analytics.demo import generate, load, make_plan
from tests.conftest import OperatorEnv
from tests.reports.smtp import SmtpServer

EVENTS = 2000


@pytest.fixture
def configured(database_url: str, smtp: SmtpServer, operator_env: OperatorEnv) -> SmtpServer:
    """Demo events over the last three weeks and the environment of an operator's shell."""
    engine = build_engine(database_url)
    plan = make_plan(events=EVENTS, days=21, seed=7, end=datetime.now(UTC) - timedelta(hours=1))
    load(engine, generate(plan))
    engine.dispose()
    operator_env(DATABASE_URL=database_url, SITE_NAME="Operator Shop", **smtp.environment())
    return smtp


def test_send_once_then_already_sent_then_forced(configured: SmtpServer) -> None:
    first = CliRunner().invoke(cli, ["report", "send"])
    assert first.exit_code == 0, first.output
    assert "Sent the report for" in first.output
    assert len(configured.received) == 1
    assert configured.received[0].message["Subject"].startswith("Operator Shop: weekly chat report")

    again = CliRunner().invoke(cli, ["report", "send"])
    assert again.exit_code == 0, again.output
    assert "already sent" in again.output
    assert len(configured.received) == 1

    forced = CliRunner().invoke(cli, ["report", "send", "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(configured.received) == 2


def test_send_with_smtp_down_exits_non_zero_and_says_why(configured: SmtpServer) -> None:
    configured.stop()
    result = CliRunner().invoke(cli, ["report", "send"])
    assert result.exit_code == 1
    assert "is unavailable" in result.output
    assert "retried" in result.output


def test_preview_writes_html_and_sends_nothing(configured: SmtpServer, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "preview", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Operator Shop" in html
    assert 'src="data:image/png;base64,' in html
    assert configured.received == []
