"""The report tests' week of a shop's chat, and how they send the report and read the message
a real SMTP server received: shared by test_email.py, test_delivery.py and the AI insight tests
(tests/ai/test_report_insights.py, through test_email.py)."""

from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import ADMIN
from tests.helpers import event
from tests.reports.smtp import SmtpServer

PARIS = ZoneInfo("Europe/Paris")
DASH = "\u2013"
RECIPIENTS = ["owner@example.com", "Team <team@example.com>"]
ENVELOPE_RECIPIENTS = ["owner@example.com", "team@example.com"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PREVIEW_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# --- the week and its events ---------------------------------------------------------------


def report_monday() -> date:
    """Monday of the last complete week in Europe/Paris: the week before the current one."""
    today = datetime.now(PARIS).date()
    return today - timedelta(days=today.weekday() + 7)


def at(monday: date, day: int, hour: int, minute: int) -> str:
    """ISO 8601 with the Paris offset, `day` days after `monday`, at local hour:minute."""
    moment = datetime.combine(monday + timedelta(days=day), datetime.min.time(), PARIS)
    return moment.replace(hour=hour, minute=minute).isoformat()


def msg(user: str, session: str, when: str, text: str, role: str = "user") -> dict[str, Any]:
    return event(user_id=user, session_id=session, timestamp=when, message=text, role=role)


def click(user: str, session: str, when: str, cta_id: str) -> dict[str, Any]:
    return event(
        user_id=user,
        session_id=session,
        timestamp=when,
        event_type="cta_click",
        message=f"Button {cta_id}",
        cta_id=cta_id,
    )


def week_events(monday: date) -> list[dict[str, Any]]:
    """A week on a shop's chat: 7 sessions, 6 users, 18 messages (10 user, 8 assistant), 4 CTA
    clicks in 4 sessions; Wednesday busiest (8 messages), 14:00 the busiest hour (5); "Do you
    ship to Norway?" opens 3 sessions (spelled two ways). Then the week before (2 sessions,
    3 messages, 1 click) and an event just after the week, which no number may count."""
    w, previous, after = monday, monday - timedelta(days=7), monday + timedelta(days=7)
    return [
        # Monday: the first minutes of the week count.
        msg("u6", "s7", at(w, 0, 0, 5), "Hello?"),
        msg("u1", "s1", at(w, 0, 10, 0), "Do you ship to Norway?"),
        msg("u1", "s1", at(w, 0, 10, 1), "Yes, in 3 days.", "assistant"),
        click("u1", "s1", at(w, 0, 10, 2), "shop-now"),
        # Tuesday: the same question in another spelling.
        msg("u2", "s2", at(w, 1, 14, 0), "do you ship to   norway"),
        msg("u2", "s2", at(w, 1, 14, 1), "We do!", "assistant"),
        msg("u2", "s2", at(w, 1, 14, 3), "How much is shipping?"),
        msg("u2", "s2", at(w, 1, 14, 4), "Free over 50 EUR.", "assistant"),
        click("u2", "s2", at(w, 1, 14, 5), "pricing"),
        msg("u2", "s2", at(w, 1, 14, 6), "Thanks!"),
        # Wednesday, the busiest day.
        msg("u3", "s3", at(w, 2, 9, 0), "What are your opening hours?"),
        msg("u3", "s3", at(w, 2, 9, 1), "9 to 5.", "assistant"),
        click("u3", "s3", at(w, 2, 9, 2), "shop-now"),
        msg("u1", "s4", at(w, 2, 20, 0), "Do you ship to Norway?"),
        msg("u1", "s4", at(w, 2, 20, 1), "Yes.", "assistant"),
        msg("u1", "s4", at(w, 2, 20, 2), "Great"),
        msg("u1", "s4", at(w, 2, 20, 3), "You're welcome.", "assistant"),
        msg("u4", "s5", at(w, 2, 21, 0), "Can I return an item?"),
        msg("u4", "s5", at(w, 2, 21, 1), "Within 30 days.", "assistant"),
        # Sunday, the last minutes of the week.
        msg("u5", "s6", at(w, 6, 23, 30), "Are you open on Monday?"),
        msg("u5", "s6", at(w, 6, 23, 31), "Yes, from 9.", "assistant"),
        click("u5", "s6", at(w, 6, 23, 32), "contact"),
        # The week before.
        msg("u7", "s8", at(previous, 2, 12, 0), "Do you deliver on Sundays?"),
        msg("u7", "s8", at(previous, 2, 12, 1), "No.", "assistant"),
        click("u7", "s8", at(previous, 2, 12, 2), "shop-now"),
        msg("u1", "s9", at(previous, 6, 23, 50), "Still open?"),
        # Just after the week (Monday 00:10; at most minutes in the future, which is accepted).
        msg("u8", "s10", at(after, 0, 0, 10), "Do you ship to Norway?"),
        click("u8", "s10", at(after, 0, 0, 11), "shop-now"),
    ]


EXPECTED_SUMMARY = {
    "total_messages": 18,
    "unique_users": 6,
    "cta_clicks": 4,
    "sessions": 7,
    "user_messages": 10,
    "assistant_messages": 8,
    "converted_sessions": 4,
    "conversion_rate": 4 / 7,
}
EXPECTED_PREVIOUS = {"total_messages": 3, "unique_users": 2, "sessions": 2, "cta_clicks": 1}


async def ingest(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await client.post("/client/batch", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == len(events)


async def send(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.post("/reports/weekly", params=params, headers=ADMIN)


async def history(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/reports", headers=ADMIN)
    assert response.status_code == 200, response.text
    reports: list[dict[str, Any]] = response.json()["reports"]
    return reports


def week_params(monday: date) -> dict[str, str]:
    return {
        "start_date": monday.isoformat(),
        "end_date": (monday + timedelta(days=6)).isoformat(),
        "tz": "Europe/Paris",
    }


def week_label(start: date, end: date) -> str:
    """How the report names a week (an en dash between the days): "16-22 Nov 2026",
    "30 Nov - 6 Dec 2026", "28 Dec 2026 - 3 Jan 2027"."""
    if start.year != end.year:
        return f"{start.day} {start:%b %Y} {DASH} {end.day} {end:%b %Y}"
    if start.month != end.month:
        return f"{start.day} {start:%b} {DASH} {end.day} {end:%b %Y}"
    return f"{start.day}{DASH}{end.day} {end:%b %Y}"


def sent_body(monday: date) -> dict[str, Any]:
    return {
        "status": "report_sent",
        "week_start": monday.isoformat(),
        "week_end": (monday + timedelta(days=6)).isoformat(),
        "recipients": RECIPIENTS,
    }


# --- reading the received message ----------------------------------------------------------


def tree(part: EmailMessage) -> Any:
    if part.is_multipart():
        return (part.get_content_type(), [tree(sub) for sub in part.iter_parts()])  # type: ignore[arg-type]
    return part.get_content_type()


def message_parts(message: EmailMessage) -> dict[str, EmailMessage]:
    """multipart/mixed: [alternative: [text, related: [html, png]], csv]."""
    assert tree(message) == (
        "multipart/mixed",
        [
            (
                "multipart/alternative",
                ["text/plain", ("multipart/related", ["text/html", "image/png"])],
            ),
            "text/csv",
        ],
    )
    alternative, csv = message.iter_parts()
    text, related = alternative.iter_parts()
    html, png = related.iter_parts()
    # Shown in the HTML, not listed as an attachment; the CSV is the attachment.
    assert png.get_content_disposition() == "inline"
    assert csv.get_content_disposition() == "attachment"
    return {"text": text, "html": html, "png": png, "csv": csv}  # type: ignore[dict-item]


def check_delivery(smtp: SmtpServer, count: int = 1) -> EmailMessage:
    """Exactly `count` messages arrived, the last one from the sender to both recipients."""
    assert len(smtp.received) == count
    received = smtp.received[-1]
    assert received.sender == "reports@example.com"
    assert received.recipients == ENVELOPE_RECIPIENTS
    message = received.message
    assert message["From"] == "Reports <reports@example.com>"
    assert message["To"] == "owner@example.com, Team <team@example.com>"
    return message
