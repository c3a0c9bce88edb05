"""The weekly email report end to end: HTTP requests to the real app, on SQLite and PostgreSQL,
delivered to a real SMTP server on loopback (STARTTLS and AUTH required unless said otherwise),
and the message it received parsed and checked against the analytics endpoints."""

import base64
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import trustme

from tests.conftest import ADMIN, client_for
from tests.helpers import event
from tests.reports.conftest import settings_for
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio

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
    text, related = alternative.iter_parts()  # type: ignore[attr-defined]
    html, png = related.iter_parts()
    # Shown in the HTML, not listed as an attachment; the CSV is the attachment.
    assert png.get_content_disposition() == "inline"  # type: ignore[union-attr]
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


# --- apps of our own (other SMTP modes, other credentials) ---------------------------------


# --- the report ----------------------------------------------------------------------------


async def test_report_is_sent_once_with_the_analytics_numbers(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = report_monday()
    sunday = monday + timedelta(days=6)
    await ingest(report_client, week_events(monday))

    response = await send(report_client)
    assert response.status_code == 200, response.text
    assert response.json() == sent_body(monday)

    message = check_delivery(smtp)
    label = week_label(monday, sunday)
    assert message["Subject"] == f"Acme Shop: weekly chat report, {label}"
    assert message["Message-ID"].endswith("@example.com>")
    sent_at = datetime.strptime(message["Date"], "%a, %d %b %Y %H:%M:%S %z")
    assert abs(sent_at - datetime.now(UTC)) < timedelta(minutes=1)
    parts = message_parts(message)
    text, html = parts["text"].get_content(), parts["html"].get_content()

    # The numbers are the analytics endpoints' for the same week in the same zone.
    summary = (
        await report_client.get("/analytics/summary", params=week_params(monday), headers=ADMIN)
    ).json()
    assert {name: summary[name] for name in EXPECTED_SUMMARY} == EXPECTED_SUMMARY
    before = (
        await report_client.get(
            "/analytics/summary", params=week_params(monday - timedelta(days=7)), headers=ADMIN
        )
    ).json()
    assert {name: before[name] for name in EXPECTED_PREVIOUS} == EXPECTED_PREVIOUS
    # Compared without the indentation (see the report: the text template loses it).
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "Acme Shop: weekly chat report"
    previous_label = week_label(monday - timedelta(days=7), sunday - timedelta(days=7))
    assert lines[1] == f"{label} (compared with {previous_label}; times in Europe/Paris)"
    expected_rows = [
        ("Messages", f"{summary['total_messages']:,}", "+500%"),
        ("Unique users", f"{summary['unique_users']:,}", "+200%"),
        ("Sessions", f"{summary['sessions']:,}", "+250%"),
        ("CTA clicks", f"{summary['cta_clicks']:,}", "+300%"),
        ("Conversion rate", f"{summary['conversion_rate']:.1%}", "+7.1 pts"),
    ]
    assert lines[3:8] == [
        f"{name:<18} {value:>10}   {change}" for name, value, change in expected_rows
    ]
    assert "57.1%" in lines[7]
    for name, value, change in expected_rows:
        assert f">{name}</div>" in html
        assert f">{value}</div>" in html
        assert f">{change}</div>" in html

    # Day by day, as the timeseries has it.
    series = (
        await report_client.get(
            "/analytics/timeseries",
            params={**week_params(monday), "interval": "day"},
            headers=ADMIN,
        )
    ).json()["buckets"]
    assert [bucket["total_messages"] for bucket in series] == [3, 5, 8, 0, 0, 0, 2]
    day_lines = [
        f"{monday + timedelta(days=n):%a %d %b}  {bucket['total_messages']:>8} / "
        f"{bucket['cta_clicks']}"
        for n, bucket in enumerate(series)
    ]
    start = lines.index("Day by day (messages / CTA clicks):")
    assert lines[start + 1 : start + 8] == day_lines
    wednesday = monday + timedelta(days=2)
    busiest = f"{wednesday:%A} {wednesday.day} {wednesday:%B} (8 messages)"
    assert f"Busiest day: {busiest}." in lines
    assert f"Busiest day: <b>{busiest}</b>." in html
    assert f"Busiest hour: 14:00{DASH}15:00." in lines

    # Top CTAs, as GET /analytics/ctas has them.
    ctas = (
        await report_client.get("/analytics/ctas", params=week_params(monday), headers=ADMIN)
    ).json()
    assert [(c["cta_id"], c["clicks"], c["unique_users"]) for c in ctas["ctas"]] == [
        ("shop-now", 2, 2),
        ("contact", 1, 1),
        ("pricing", 1, 1),
    ]
    start = lines.index("Top calls to action:")
    assert lines[start + 1 : start + 4] == [
        f"{c['cta_id']}: {c['clicks']} clicks, {c['unique_users']} users, "
        f"{c['share_of_clicks']:.0%} of clicks"
        for c in ctas["ctas"]
    ]
    assert lines[start + 1] == "shop-now: 2 clicks, 2 users, 50% of clicks"
    for c in ctas["ctas"]:
        assert f'<td style="padding:4px 0;">{c["cta_id"]}</td>' in html

    # The opening question of three sessions, in its most frequent spelling.
    start = lines.index("What users opened with:")
    assert lines[start + 1] == "1. Do you ship to Norway? (3)"
    questions = lines[start + 1 : lines.index("", start)]
    assert len([line for line in questions if line]) == 5  # top 5 of 6 openings
    assert "Do you ship to Norway? <span" in html
    assert "(3)</span></li>" in html
    assert "Still open" not in text  # the week before
    assert "Do you deliver" not in text

    # The chart: a PNG the HTML shows by its Content-ID.
    png = parts["png"]
    assert png["Content-ID"] == "<daily-chart>"
    assert png.get_content().startswith(PNG_SIGNATURE)
    assert '<img src="cid:daily-chart"' in html

    # The CSV attachment is the summary export of the week, byte for byte.
    csv = parts["csv"]
    assert csv.get_content_disposition() == "attachment"
    assert csv.get_filename() == f"daily_{monday}_to_{sunday}.csv"
    export = await report_client.get(
        "/analytics/export/summary",
        params={**week_params(monday), "interval": "day"},
        headers=ADMIN,
    )
    assert export.status_code == 200
    attached = csv.get_payload(decode=True)
    assert attached == export.content
    assert attached.decode().count("\r\n") == 8  # header and a row per day

    # Once per week: a repeat does not send again, force does.
    response = await send(report_client)
    assert response.status_code == 200, response.text
    assert response.json() == {**sent_body(monday), "status": "already_sent"}
    assert len(smtp.received) == 1

    response = await send(report_client, force="true")
    assert response.status_code == 200, response.text
    assert response.json() == sent_body(monday)
    again = check_delivery(smtp, count=2)
    assert again["Subject"] == message["Subject"]
    assert again["Message-ID"] != message["Message-ID"]
    assert message_parts(again)["csv"].get_payload(decode=True) == export.content

    attempts = await history(report_client)
    assert [(a["status"], a["forced"], a["trigger"]) for a in attempts] == [
        ("sent", True, "manual"),
        ("sent", False, "manual"),
    ]


async def test_user_text_is_escaped_in_the_html(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = report_monday()
    attack = "<script>alert(1)</script>"
    cta = '"><img src=x onerror=alert(2)>'
    await ingest(
        report_client,
        [
            msg("u1", "s1", at(monday, 1, 10, 0), attack),
            msg("u2", "s2", at(monday, 1, 11, 0), attack),
            click("u2", "s2", at(monday, 1, 11, 1), cta),
        ],
    )
    response = await send(report_client)
    assert response.status_code == 200, response.text
    parts = message_parts(check_delivery(smtp))
    html, text = parts["html"].get_content(), parts["text"].get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <span" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;</td>" in html
    assert "<script" not in html
    assert "<img src=x" not in html
    assert html.count("<img ") == 1  # the chart only
    assert f"1. {attack} (2)" in [
        line.strip() for line in text.splitlines()
    ]  # plain text shows it as written

    preview = await report_client.get("/reports/weekly/preview", headers=ADMIN)
    assert preview.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview.text
    assert "<script" not in preview.text
    assert preview.text.count("<img ") == 1


# --- who may ask ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/reports/weekly"), ("GET", "/reports"), ("GET", "/reports/weekly/preview")],
)
async def test_report_routes_need_the_admin_key(
    report_client: httpx.AsyncClient, smtp: SmtpServer, method: str, path: str
) -> None:
    for headers, detail in [
        ({}, "missing Authorization: Bearer <ADMIN_API_KEY> header"),
        ({"Authorization": "Bearer not-the-admin-key-at-all"}, "invalid admin key"),
    ]:
        response = await report_client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": detail}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert smtp.received == []
    assert await history(report_client) == []


# --- preview and history -------------------------------------------------------------------


async def test_preview_shows_the_week_and_sends_nothing(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = report_monday()
    await ingest(report_client, week_events(monday))
    response = await report_client.get("/reports/weekly/preview", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == PREVIEW_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    page = response.text
    label = week_label(monday, monday + timedelta(days=6))
    assert f"<title>Acme Shop: weekly chat report, {label}</title>" in page
    assert f">{label}</h1>" in page
    assert "Do you ship to Norway? <span" in page
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(found) == 1
    assert base64.b64decode(found[0], validate=True).startswith(PNG_SIGNATURE)
    assert "cid:" not in page
    assert smtp.received == []
    assert await history(report_client) == []  # a preview claims nothing
    response = await send(report_client)  # and the week is still to send
    assert response.json()["status"] == "report_sent"


async def test_history_lists_attempts_newest_first(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = report_monday()
    await ingest(report_client, week_events(monday)[:4])
    began = datetime.now(UTC)
    smtp.handler.refuse = "554 5.7.1 no thanks"
    assert (await send(report_client)).status_code == 502
    smtp.handler.refuse = None
    assert (await send(report_client)).json()["status"] == "report_sent"
    assert (await send(report_client, force="true")).json()["status"] == "report_sent"
    ended = datetime.now(UTC)
    assert len(smtp.received) == 2

    attempts = await history(report_client)
    refused = f"SMTP server localhost:{smtp.port} refused the message: 554 5.7.1 no thanks"
    common = {
        "week_start": monday.isoformat(),
        "week_end": (monday + timedelta(days=6)).isoformat(),
        "trigger": "manual",
        "recipients": RECIPIENTS,
    }
    assert [{key: a[key] for key in (*common, "forced", "status", "error")} for a in attempts] == [
        {**common, "forced": True, "status": "sent", "error": None},
        {**common, "forced": False, "status": "sent", "error": None},
        {**common, "forced": False, "status": "failed", "error": refused},
    ]
    times = [
        (datetime.fromisoformat(a["started_at"]), datetime.fromisoformat(a["finished_at"]))
        for a in attempts
    ]
    for started, finished in times:
        assert started.utcoffset() == timedelta(0)
        assert began <= started <= finished <= ended
    assert times[0][0] >= times[1][1] and times[1][0] >= times[2][1]  # newest first

    page = await report_client.get("/reports", params={"limit": 1, "offset": 1}, headers=ADMIN)
    assert [a["forced"] for a in page.json()["reports"]] == [False]
    assert page.json()["reports"][0]["status"] == "sent"


# --- SMTP failures -------------------------------------------------------------------------


async def test_smtp_down_is_a_502_and_the_week_stays_unsent(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = report_monday()
    await ingest(report_client, week_events(monday))
    smtp.stop()
    response = await send(report_client)
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith(
        f"the report was not sent: SMTP server localhost:{smtp.port} is unavailable: "
    )
    assert detail.endswith("; it will be retried")
    assert "refused" in detail.lower()  # connection refused
    assert smtp.received == []
    [attempt] = await history(report_client)
    assert attempt["status"] == "failed"
    assert attempt["finished_at"] is not None
    assert attempt["error"].startswith(f"SMTP server localhost:{smtp.port} is unavailable: ")

    smtp.start()
    response = await send(report_client)
    assert response.status_code == 200, response.text
    assert response.json() == sent_body(monday)
    check_delivery(smtp)
    assert [a["status"] for a in await history(report_client)] == ["sent", "failed"]
    assert (await send(report_client)).json()["status"] == "already_sent"
    assert len(smtp.received) == 1


async def test_smtp_refusing_the_message_is_a_502(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    await ingest(report_client, week_events(report_monday()))
    smtp.handler.refuse = "554 5.7.1 no thanks"
    response = await send(report_client)
    assert response.status_code == 502
    assert response.json() == {
        "detail": f"the report was not sent: SMTP server localhost:{smtp.port} refused the "
        "message: 554 5.7.1 no thanks; it will be retried"
    }
    assert smtp.received == []
    assert [a["status"] for a in await history(report_client)] == ["failed"]
    # A person asking again is not held by the backoff; the server still refuses.
    assert (await send(report_client)).status_code == 502
    assert [a["status"] for a in await history(report_client)] == ["failed", "failed"]


async def test_wrong_smtp_password_is_a_502_naming_the_login(
    database_url: str, smtp: SmtpServer
) -> None:
    settings = settings_for(database_url, **{**smtp.settings(), "email_password": "not-it"})
    async with client_for(settings) as client:
        await ingest(client, week_events(report_monday()))
        response = await send(client)
        assert response.status_code == 502
        assert response.json() == {
            "detail": f"the report was not sent: SMTP server localhost:{smtp.port} refused the "
            "login for 'reports@example.com': 535 5.7.8 Authentication credentials invalid; "
            "it will be retried"
        }
        assert smtp.received == []
        [attempt] = await history(client)
        assert attempt["status"] == "failed"
        assert attempt["error"] == (
            f"SMTP server localhost:{smtp.port} refused the login for 'reports@example.com': "
            "535 5.7.8 Authentication credentials invalid"
        )
    # The right password is accepted.
    async with client_for(settings_for(database_url, **smtp.settings())) as client:
        assert (await send(client)).json()["status"] == "report_sent"
    assert len(smtp.received) == 1


# --- other SMTP modes ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ssl", "none"])
async def test_report_over_implicit_tls_or_plain_smtp(
    database_url: str, ca: trustme.CA, trust_ca: object, mode: str
) -> None:
    # Without AUTH: tests/reports/smtp.py sets auth_require_tls for "ssl" too, but aiosmtpd
    # only counts STARTTLS as TLS, so over implicit TLS it never offers AUTH.
    server = SmtpServer(ca, mode, auth=False).start()  # type: ignore[arg-type]
    try:
        settings = settings_for(database_url, **server.settings())
        assert settings.email_use_tls == mode
        async with client_for(settings) as client:
            monday = report_monday()
            await ingest(client, week_events(monday))
            response = await send(client)
            assert response.status_code == 200, response.text
            assert response.json() == sent_body(monday)
        message = check_delivery(server)
        label = week_label(monday, monday + timedelta(days=6))
        assert message["Subject"] == f"Acme Shop: weekly chat report, {label}"
        assert (
            "Messages                   18   +500%"
            in message_parts(message)["text"].get_content().splitlines()
        )
    finally:
        server.stop()


async def test_without_email_host_nothing_is_claimed(database_url: str) -> None:
    settings = settings_for(database_url, report_recipients=["owner@example.com"])
    async with client_for(settings) as client:
        await ingest(client, week_events(report_monday()))
        response = await send(client)
        assert response.status_code == 409
        assert "EMAIL_HOST" in response.json()["detail"]
        assert await history(client) == []


async def test_a_failed_forced_resend_leaves_the_week_sent(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    await ingest(report_client, week_events(report_monday()))
    assert (await send(report_client)).json()["status"] == "report_sent"
    smtp.stop()
    response = await report_client.post("/reports/weekly?force=true", headers=ADMIN)
    assert response.status_code == 502
    assert response.json()["detail"].endswith("; the week was sent before, so it is not retried")
    smtp.start()
    # Neither a person asking nor the schedule sends the week again.
    assert (await send(report_client)).json()["status"] == "already_sent"
    assert len(smtp.received) == 1
    assert [a["status"] for a in await history(report_client)] == ["failed", "sent"]


async def test_a_non_ascii_smtp_password_is_a_502_saying_so(
    database_url: str, smtp: SmtpServer
) -> None:
    settings = settings_for(database_url, **{**smtp.settings(), "email_password": "pässwörd"})
    async with client_for(settings) as client:
        await ingest(client, week_events(report_monday()))
        response = await send(client)
    assert response.status_code == 502
    assert "EMAIL_USER and EMAIL_PASSWORD must be ASCII" in response.json()["detail"]
    assert smtp.received == []
