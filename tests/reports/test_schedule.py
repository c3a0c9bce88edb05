"""The weekly report is sent exactly once: by real server processes (several workers, each with
its own schedule, and people asking at the same time), after downtime, and across an SMTP outage.
Every email is counted by a real SMTP server; nothing is mocked."""

import signal
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
import trustme
from sqlalchemy import Engine, update

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.app import create_app
from plugin_analytics.config import Settings, load_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import DEFAULT_SITE_NUM, report_table
from plugin_analytics.modules.registry import load_modules
from plugin_analytics.reports.build import last_complete_week
from plugin_analytics.reports.claims import Taken, week_status
from plugin_analytics.reports.schedule import ReportSchedule
from tests.conftest import ADMIN, ADMIN_KEY, started
from tests.reports.smtp import SmtpServer
from tests.servers import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EVERY_MINUTE = "* * * * *"
ASKERS = 12
WORKERS = 3
MAIL_TIMEOUT_S = 15.0
QUIET_S = 3.0  # how long we watch for a second email that must not come
DISABLED_QUIET_S = 5.0
RECIPIENTS = ["owner@example.com", "team@example.com"]


def _last_week(now: datetime | None = None) -> DateRange:
    return last_complete_week(now or datetime.now(UTC), ZoneInfo("UTC"), DEFAULT_SITE_NUM)


async def _ingest(database_url: str, week: DateRange) -> None:
    """Chat events in `week` (UTC), stored through the API of an app whose schedule is off."""
    settings = load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, scheduler_enabled=False
    )
    events: list[dict[str, Any]] = []
    for day in range(7):
        at = datetime.combine(week.start_date + timedelta(days=day), datetime.min.time(), UTC)
        for hour in (9, 14):
            session = f"s-{day}-{hour}"
            timestamp = (at + timedelta(hours=hour)).isoformat()
            events += [
                {
                    "event_id": f"{session}-q",
                    "user_id": f"user-{day % 3}",
                    "session_id": session,
                    "event_type": "message",
                    "message": "Do you ship to Norway?",
                    "timestamp": timestamp,
                },
                {
                    "event_id": f"{session}-cta",
                    "user_id": f"user-{day % 3}",
                    "session_id": session,
                    "event_type": "cta_click",
                    "cta_id": "pricing",
                    "message": "See pricing",
                    "timestamp": timestamp,
                },
            ]
    app = create_app(settings)
    async with started(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post("/client/batch", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == len(events)


def _server(
    database_url: str,
    smtp: SmtpServer,
    ca_file: Path,
    env: Mapping[str, str],
    *,
    workers: int = 1,
) -> ServerProcess:
    return ServerProcess(
        database_url,
        workers=workers,
        SSL_CERT_FILE=str(ca_file),
        **smtp.environment(),
        **env,
    )


async def _wait_for_mail(smtp: SmtpServer, count: int, within: float = MAIL_TIMEOUT_S) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if len(smtp.received) >= count:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"{len(smtp.received)} emails within {within} s, expected {count}")


async def _no_more_mail(smtp: SmtpServer, count: int, seconds: float = QUIET_S) -> None:
    """Watch for `seconds`: the SMTP server must not receive more than `count` emails."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(smtp.received) > count:
            break
        await anyio.sleep(0.05)
    assert len(smtp.received) == count, [r.message["Subject"] for r in smtp.received]


async def _history(server: ServerProcess) -> list[dict[str, Any]]:
    """GET /reports, oldest first."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.get("/reports", headers=ADMIN)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["reports"]))


def _summary(history: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(a["week_start"], a["trigger"], a["status"]) for a in history]


def _check_email(smtp: SmtpServer) -> None:
    (email,) = smtp.received
    assert sorted(email.recipients) == RECIPIENTS
    assert email.message["To"]


async def _start(server: ServerProcess) -> None:
    await anyio.to_thread.run_sync(server.start)


async def _ask_while_starting(server: ServerProcess, askers: int) -> list[httpx.Response]:
    """POST /reports/weekly from `askers` clients (each its own connection, so the workers
    share them) while the server starts; each retries until the server listens."""
    answers: list[httpx.Response] = []

    async def ask() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            with anyio.fail_after(40):
                while True:
                    try:
                        answers.append(await http.post("/reports/weekly", headers=ADMIN))
                        return
                    except httpx.ConnectError:
                        await anyio.sleep(0.02)

    async with anyio.create_task_group() as group:
        group.start_soon(_start, server)
        for _ in range(askers):
            group.start_soon(ask)
    return answers


async def test_sent_exactly_once_by_three_workers_and_twelve_askers(
    database_url: str, smtp: SmtpServer, ca_file: Path
) -> None:
    week = _last_week()
    await _ingest(database_url, week)
    server = _server(
        database_url,
        smtp,
        ca_file,
        {"SCHEDULER_ENABLED": "true", "REPORT_SCHEDULE": EVERY_MINUTE},
        workers=WORKERS,
    )
    try:
        # Every worker's schedule checks the (due) week as it starts, while the askers knock.
        answers = await _ask_while_starting(server, ASKERS)
        await _wait_for_mail(smtp, 1)
        await _no_more_mail(smtp, 1)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            with anyio.fail_after(40):
                later = [await http.post("/reports/weekly", headers=ADMIN) for _ in range(4)]
        history = await _history(server)
    finally:
        server.kill(signal.SIGTERM)

    assert [(r.status_code, r.text) for r in answers if r.status_code != 200] == []
    statuses = [r.json()["status"] for r in answers]
    assert set(statuses) <= {"report_sent", "already_sent"}, statuses
    assert statuses.count("report_sent") <= 1, statuses
    for response in answers:
        assert response.json()["week_start"] == week.start_date.isoformat()
        assert sorted(response.json()["recipients"]) == [
            "Team <team@example.com>",
            "owner@example.com",
        ]
    assert [(r.status_code, r.json()["status"]) for r in later] == [(200, "already_sent")] * 4
    _check_email(smtp)
    # One attempt in all, sent; by an asker if one was answered report_sent, else by a schedule.
    sender = "manual" if "report_sent" in statuses else "schedule"
    assert _summary(history) == [(week.start_date.isoformat(), sender, "sent")]
    assert history[0]["error"] is None


def _catch_up_schedule(now: datetime) -> str:
    """A weekly crontab line whose time this week (UTC) has passed: an hour ago, or Monday
    00:00 (when the week began) if an hour ago was last week."""
    hour_ago = now - timedelta(hours=1)
    if hour_ago.weekday() != now.weekday() and now.weekday() == 0:
        return "0 0 * * 1"
    return f"{hour_ago.minute} {hour_ago.hour} * * {hour_ago.isoweekday() % 7}"


async def test_a_missed_week_is_caught_up_once(
    database_url: str, smtp: SmtpServer, ca_file: Path
) -> None:
    week = _last_week()
    await _ingest(database_url, week)
    env = {"SCHEDULER_ENABLED": "true", "REPORT_SCHEDULE": _catch_up_schedule(datetime.now(UTC))}

    with _server(database_url, smtp, ca_file, env) as server:
        await _wait_for_mail(smtp, 1)
        history = await _history(server)
    _check_email(smtp)
    assert _summary(history) == [(week.start_date.isoformat(), "schedule", "sent")]

    with _server(database_url, smtp, ca_file, env) as server:
        await _no_more_mail(smtp, 1)
        assert await _history(server) == history


async def test_scheduler_disabled_sends_nothing(
    database_url: str, smtp: SmtpServer, ca_file: Path
) -> None:
    await _ingest(database_url, _last_week())
    env = {"SCHEDULER_ENABLED": "false", "REPORT_SCHEDULE": EVERY_MINUTE}
    with _server(database_url, smtp, ca_file, env) as server:
        await _no_more_mail(smtp, 0, DISABLED_QUIET_S)
        assert await _history(server) == []


@pytest.fixture
def smtp_down(ca: trustme.CA, trust_ca: Path) -> Iterator[SmtpServer]:
    """An SMTP server (STARTTLS, AUTH) that is not running until the test starts it."""
    server = SmtpServer(ca, "starttls")
    yield server
    server.stop()


async def _poll_history(server: ServerProcess, count: int) -> list[dict[str, Any]]:
    """GET /reports until it holds `count` finished attempts."""
    history: list[dict[str, Any]] = []
    with anyio.move_on_after(MAIL_TIMEOUT_S):
        while True:
            history = await _history(server)
            if len([a for a in history if a["status"] != "sending"]) >= count:
                return history
            await anyio.sleep(0.1)
    raise AssertionError(f"fewer than {count} finished attempts: {history}")


async def test_smtp_down_then_up_sends_once(
    database_url: str, smtp_down: SmtpServer, ca_file: Path
) -> None:
    smtp = smtp_down
    week = _last_week()
    monday = week.start_date.isoformat()
    await _ingest(database_url, week)
    env = {"SCHEDULER_ENABLED": "true", "REPORT_SCHEDULE": EVERY_MINUTE}

    with _server(database_url, smtp, ca_file, env) as server:
        # The schedule tries as the server starts, and fails.
        assert _summary(await _poll_history(server, 1)) == [(monday, "schedule", "failed")]
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            refused = await http.post("/reports/weekly", headers=ADMIN)
            assert refused.status_code == 502, refused.text
            assert "not sent" in refused.text
            history = await _history(server)
            assert _summary(history) == [
                (monday, "schedule", "failed"),
                (monday, "manual", "failed"),
            ]
            for attempt in history:
                assert f"localhost:{smtp.port} is unavailable" in attempt["error"], attempt

            smtp.start()
            sent = await http.post("/reports/weekly", headers=ADMIN)
            assert (sent.status_code, sent.json()["status"]) == (200, "report_sent"), sent.text
            await _no_more_mail(smtp, 1)
            again = await http.post("/reports/weekly", headers=ADMIN)
            assert (again.status_code, again.json()["status"]) == (200, "already_sent")
        assert _summary(await _history(server)) == [
            (monday, "schedule", "failed"),
            (monday, "manual", "failed"),
            (monday, "manual", "sent"),
        ]
    _check_email(smtp)


def _set_next_attempt(engine: Engine, week: DateRange, at: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(report_table)
            .where(report_table.c.week_start == week.start_date)
            .values(next_attempt_at=at)
        )


def _schedule_settings(database_url: str, smtp: SmtpServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"report_schedule": EVERY_MINUTE, **smtp.settings(), **overrides}
    return load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, **values
    )


async def test_schedule_retries_a_failed_week_after_its_backoff(
    database_url: str, smtp_down: SmtpServer
) -> None:
    smtp = smtp_down
    week = _last_week()
    await _ingest(database_url, week)
    engine = build_engine(database_url)
    schedule = ReportSchedule(engine, _schedule_settings(database_url, smtp), load_modules())
    try:
        await anyio.to_thread.run_sync(schedule.send_if_due)
        status = week_status(engine, DEFAULT_SITE_NUM, week.start_date)
        assert status is not None
        assert status.status == "backoff", status
        assert status.error
        assert "unavailable" in status.error

        smtp.start()
        await anyio.to_thread.run_sync(schedule.send_if_due)  # the backoff has not passed
        assert smtp.received == []
        assert week_status(engine, DEFAULT_SITE_NUM, week.start_date) == status

        _set_next_attempt(engine, week, datetime.now(UTC) - timedelta(seconds=1))
        await anyio.to_thread.run_sync(schedule.send_if_due)
        assert len(smtp.received) == 1
        assert week_status(engine, DEFAULT_SITE_NUM, week.start_date) == Taken("sent")

        await anyio.to_thread.run_sync(schedule.send_if_due)
        assert len(smtp.received) == 1
        assert not schedule.is_due(datetime.now(UTC))
    finally:
        engine.dispose()
    _check_email(smtp)


async def test_a_week_is_due_once_its_time_has_passed_and_it_had_events(
    database_url: str, smtp: SmtpServer
) -> None:
    week = _last_week(datetime(2026, 3, 9, 12, tzinfo=UTC))  # Monday 2 to Sunday 8 March
    await _ingest(database_url, week)
    engine = build_engine(database_url)
    paris = _schedule_settings(
        database_url, smtp, report_schedule="0 8 * * 1", report_timezone="Europe/Paris"
    )
    try:
        schedule = ReportSchedule(engine, _schedule_settings(database_url, smtp), load_modules())
        # Monday 08:00 in cron's numbering (1 = Monday), Paris time (UTC+1 in March).
        weekly = ReportSchedule(engine, paris, load_modules())
        assert not weekly.is_due(datetime(2026, 3, 9, 6, 59, tzinfo=UTC))
        assert weekly.is_due(datetime(2026, 3, 9, 7, 0, tzinfo=UTC))
        assert weekly.is_due(datetime(2026, 3, 13, 7, 0, tzinfo=UTC))
        assert schedule.is_due(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))
        # The week before the first event is not reported.
        assert not schedule.is_due(datetime(2026, 3, 2, 12, tzinfo=UTC))
        assert not weekly.is_due(datetime(2026, 3, 3, 12, tzinfo=UTC))
    finally:
        engine.dispose()
    assert smtp.received == []


async def test_the_scheduled_job_skips_a_new_installation_and_sends_otherwise(
    database_url: str, smtp: SmtpServer
) -> None:
    """When REPORT_SCHEDULE fires, the week is sent, unless nothing ever happened before it
    ended (a site set up this week gets no report of last week)."""
    engine = build_engine(database_url)
    schedule = ReportSchedule(engine, _schedule_settings(database_url, smtp), load_modules())
    try:
        await anyio.to_thread.run_sync(schedule.send_now)
        assert smtp.received == []
        assert week_status(engine, DEFAULT_SITE_NUM, _last_week().start_date) is None

        await _ingest(database_url, _last_week())
        await anyio.to_thread.run_sync(schedule.send_now)
        assert len(smtp.received) == 1
        await anyio.to_thread.run_sync(schedule.send_now)
        assert len(smtp.received) == 1  # sent once
    finally:
        engine.dispose()
    _check_email(smtp)
