"""The feedback module: the weekly report's "User feedback" section, as an SMTP server gets it."""

from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import ADMIN, client_for
from tests.helpers import event
from tests.modules.feedback_helpers import (
    feedback_summary,
    post,
    rating,
)
from tests.reports.conftest import settings_for
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio

# --- the weekly report ---------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
PROMO = "Use <b>promo</b> & save 10%"
RETURNS = "Returns are free within 30 days, " + "and we pay for the label " * 6


def last_monday() -> date:
    """Monday of the last complete week in Europe/Paris (the report's)."""
    today = datetime.now(PARIS).date()
    return today - timedelta(days=today.weekday() + 7)


def paris(monday: date, day: int, hour: int, minute: int = 0) -> str:
    moment = datetime.combine(monday + timedelta(days=day), time(hour, minute), PARIS)
    return moment.isoformat()


def report_events(monday: date) -> list[dict[str, Any]]:
    """The week: 9 answers rated (5 up), the worst w1, w2, w3; the week before: 50%."""
    before, after = monday - timedelta(days=7), monday + timedelta(days=7)
    answers = [
        ("w1", PROMO),
        ("w2", RETURNS),
        ("w3", "We ship to Norway."),
        ("w4", "Glad to help!"),
        ("w0", "An answer of the week before."),
    ]
    events = [
        event(event_id=i, message=text, role="assistant", timestamp=paris(monday, 0, 9))
        for i, text in answers
    ]
    week = [
        ("u1", "w1", "down"), ("u2", "w1", "down"), ("u3", "w1", "up"),
        ("u1", "w2", "down"),
        ("u2", "w3", "down"), ("u3", "w3", "up"),
        ("u1", "w4", "up"), ("u2", "w4", "up"), ("u3", "w4", "down"),
    ]  # fmt: skip
    events += [rating(u, i, value, paris(monday, 1, 10, n)) for n, (u, i, value) in enumerate(week)]
    events += [
        rating("u3", "w4", "up", paris(monday, 6, 23, 59)),  # u3 changes their mind: up
        rating("u1", "w0", "up", paris(before, 2, 12)),
        rating("u2", "w0", "down", paris(before, 2, 12)),
        rating("u4", "w1", "down", paris(after, 0, 0, 1)),  # after the week: not counted
    ]
    return events


def email_text(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a received report."""
    parts = {part.get_content_type(): part for part in message.walk()}
    return parts["text/plain"].get_content(), parts["text/html"].get_content()


async def test_weekly_report_has_the_user_feedback_section(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = last_monday()
    await post(report_client, report_events(monday))
    week = {
        "start_date": monday.isoformat(),
        "end_date": (monday + timedelta(days=6)).isoformat(),
        "tz": "Europe/Paris",
    }
    numbers = await feedback_summary(report_client, **week)
    assert (numbers["ratings"], numbers["thumbs_up"]) == (9, 5)
    response = await report_client.post("/reports/weekly", headers=ADMIN)
    assert response.status_code == 200, response.text
    [received] = smtp.received
    text, html = email_text(received.message)

    paragraph = (
        "9 answers were rated this week: 56% thumbs up (the week before: 50%). "
        "The worst-rated answers:"
    )
    shortened = RETURNS[:119] + "…"
    rows = [
        (PROMO, "2 down, 1 up"),
        (shortened, "1 down, 0 up"),
        ("We ship to Norway.", "1 down, 1 up"),
    ]
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("User feedback:")
    end = lines.index("The daily numbers are attached as CSV.")
    section = [line for line in lines[start + 1 : end] if line]
    assert " ".join(section[:-3]) == paragraph
    assert section[-3:] == [f"{label}: {value}" for label, value in rows]

    assert ">User feedback</h2>" in html
    assert f">{paragraph}</p>" in html
    escaped = "Use &lt;b&gt;promo&lt;/b&gt; &amp; save 10%"
    for label, value in [(escaped, rows[0][1]), *rows[1:]]:
        assert f'<td style="padding:4px 0;">{label}</td><td align="right">{value}</td>' in html
    assert "<b>promo</b>" not in html


async def test_report_section_without_the_week_before_or_the_answer(
    database_url: str,
) -> None:
    monday = last_monday()
    async with client_for(settings_for(database_url)) as http:
        preview = await http.get("/reports/weekly/preview", headers=ADMIN)
        assert "No answers were rated this week." in preview.text
        await post(http, [rating("u1", "ghost", "down", paris(monday, 3, 15))])
        preview = await http.get("/reports/weekly/preview", headers=ADMIN)
        assert preview.status_code == 200, preview.text
    html = preview.text
    paragraph = "1 answer was rated this week: 0% thumbs up. The worst-rated answers:"
    assert f">{paragraph}</p>" in html
    row = '<td style="padding:4px 0;">(answer not stored)</td><td align="right">1 down, 0 up</td>'
    assert row in html
    assert "No answers were rated this week." not in html
