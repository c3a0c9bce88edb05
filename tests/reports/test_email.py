"""The weekly email's content end to end: HTTP requests to the real app, on SQLite and
PostgreSQL, delivered to a real SMTP server on loopback (STARTTLS and AUTH required), and the
message it received parsed and checked against the analytics endpoints; the preview in a
browser. Sending (once per week, the history, who may ask, SMTP failures): test_delivery.py."""

import base64
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest

from tests.conftest import ADMIN
from tests.reports.mail import (
    DASH,
    EXPECTED_PREVIOUS,
    EXPECTED_SUMMARY,
    PNG_SIGNATURE,
    PREVIEW_POLICY,
    at,
    check_delivery,
    click,
    history,
    ingest,
    message_parts,
    msg,
    report_monday,
    send,
    sent_body,
    week_events,
    week_label,
    week_params,
)
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio


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
    # Compared without the indentation (see the report: the text template loses it).
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "Acme Shop: weekly chat report"
    previous_label = week_label(monday - timedelta(days=7), sunday - timedelta(days=7))
    assert lines[1] == f"{label} (compared with {previous_label}; times in Europe/Paris)"

    await check_numbers(report_client, monday, lines, html)
    await check_days(report_client, monday, lines, html)
    await check_ctas(report_client, monday, lines, html)
    check_questions(text, lines, html)
    export = await check_chart_and_csv(report_client, monday, parts, html)
    await check_sent_once_per_week(report_client, smtp, monday, message, export)


async def check_numbers(
    client: httpx.AsyncClient, monday: date, lines: list[str], html: str
) -> None:
    """The numbers are the analytics endpoints' for the same week in the same zone."""
    summary = (
        await client.get("/analytics/summary", params=week_params(monday), headers=ADMIN)
    ).json()
    assert {name: summary[name] for name in EXPECTED_SUMMARY} == EXPECTED_SUMMARY
    before = (
        await client.get(
            "/analytics/summary", params=week_params(monday - timedelta(days=7)), headers=ADMIN
        )
    ).json()
    assert {name: before[name] for name in EXPECTED_PREVIOUS} == EXPECTED_PREVIOUS
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


async def check_days(client: httpx.AsyncClient, monday: date, lines: list[str], html: str) -> None:
    """Day by day, as the timeseries has it."""
    series = (
        await client.get(
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


async def check_ctas(client: httpx.AsyncClient, monday: date, lines: list[str], html: str) -> None:
    """Top CTAs, as GET /analytics/ctas has them."""
    ctas = (await client.get("/analytics/ctas", params=week_params(monday), headers=ADMIN)).json()
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


def check_questions(text: str, lines: list[str], html: str) -> None:
    """The opening question of three sessions, in its most frequent spelling."""
    start = lines.index("What users opened with:")
    assert lines[start + 1] == "1. Do you ship to Norway? (3)"
    questions = lines[start + 1 : lines.index("", start)]
    assert len([line for line in questions if line]) == 5  # top 5 of 6 openings
    assert "Do you ship to Norway? <span" in html
    assert "(3)</span></li>" in html
    assert "Still open" not in text  # the week before
    assert "Do you deliver" not in text


async def check_chart_and_csv(
    client: httpx.AsyncClient, monday: date, parts: dict[str, EmailMessage], html: str
) -> httpx.Response:
    """The chart: a PNG the HTML shows by its Content-ID. The CSV attachment is the summary
    export of the week, byte for byte (the export is returned)."""
    png = parts["png"]
    assert png["Content-ID"] == "<daily-chart>"
    assert png.get_content().startswith(PNG_SIGNATURE)
    assert '<img src="cid:daily-chart"' in html

    csv, sunday = parts["csv"], monday + timedelta(days=6)
    assert csv.get_content_disposition() == "attachment"
    assert csv.get_filename() == f"daily_{monday}_to_{sunday}.csv"
    export = await client.get(
        "/analytics/export/summary",
        params={**week_params(monday), "interval": "day"},
        headers=ADMIN,
    )
    assert export.status_code == 200
    attached = csv.get_payload(decode=True)
    assert attached == export.content
    assert attached.decode().count("\r\n") == 8  # header and a row per day
    return export


async def check_sent_once_per_week(
    client: httpx.AsyncClient,
    smtp: SmtpServer,
    monday: date,
    message: EmailMessage,
    export: httpx.Response,
) -> None:
    """Once per week: a repeat does not send again, force does."""
    response = await send(client)
    assert response.status_code == 200, response.text
    assert response.json() == {**sent_body(monday), "status": "already_sent"}
    assert len(smtp.received) == 1

    response = await send(client, force="true")
    assert response.status_code == 200, response.text
    assert response.json() == sent_body(monday)
    again = check_delivery(smtp, count=2)
    assert again["Subject"] == message["Subject"]
    assert again["Message-ID"] != message["Message-ID"]
    assert message_parts(again)["csv"].get_payload(decode=True) == export.content

    attempts = await history(client)
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


# --- preview -------------------------------------------------------------------------------


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
