"""The report as an email: subject, HTML with inline styles (an inline PNG chart), a plain-text
alternative, and the week's daily numbers attached as CSV."""

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from plugin_analytics.config import mailbox
from plugin_analytics.modules.interface import ReportSection, week_before
from plugin_analytics.reports.build import DASH, WeeklyReport
from plugin_analytics.reports.chart import daily_chart
from plugin_analytics.reports.sections import part_of

CHART_CID = "daily-chart"

templates = Environment(
    loader=PackageLoader("plugin_analytics.reports", "templates"),
    autoescape=select_autoescape(["html"]),  # user text (questions, CTA ids) is escaped
    keep_trailing_newline=True,
    trim_blocks=True,  # a line holding only a {% tag %} leaves no line behind
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Email:
    """A rendered report, before addressing."""

    subject: str
    html: str  # the chart referenced as cid:daily-chart
    text: str
    chart_png: bytes
    csv: str
    csv_name: str


def week_label(start: date, end: date) -> str:
    if start.year != end.year:
        return f"{start:%-d %b %Y} {DASH} {end:%-d %b %Y}"
    if start.month != end.month:
        return f"{start:%-d %b} {DASH} {end:%-d %b %Y}"
    return f"{start:%-d}{DASH}{end:%-d %b %Y}"


def subject(report: WeeklyReport) -> str:
    week = report.week
    return f"{report.site_name}: weekly chat report, {week_label(week.start_date, week.end_date)}"


def render(report: WeeklyReport, csv: str) -> Email:
    chart = daily_chart(report.days)
    return Email(
        subject=subject(report),
        html=render_html(report, f"cid:{CHART_CID}"),
        text=templates.get_template("weekly.txt").render(**_view(report)),
        chart_png=chart,
        csv=csv,
        csv_name=f"daily_{report.week.start_date}_to_{report.week.end_date}.csv",
    )


def render_html(report: WeeklyReport, chart_src: str) -> str:
    return templates.get_template("weekly.html").render(**_view(report), chart_src=chart_src)


def preview_html(report: WeeklyReport) -> str:
    """The email's HTML for a browser: the chart inline as a data URI instead of an attachment."""
    png = base64.b64encode(daily_chart(report.days)).decode()
    return render_html(report, f"data:image/png;base64,{png}")


def _view(report: WeeklyReport) -> dict[str, Any]:
    """What the templates read: the header's words, and each written section with the name of
    the part (templates/sections.*) that draws it."""
    week, previous = report.week, week_before(report.week)
    return {
        "report": report,
        "subject": subject(report),
        "week_label": week_label(week.start_date, week.end_date),
        "previous_label": week_label(previous.start_date, previous.end_date),
        "sections": [
            (part_of(section), section)
            for section in report.sections
            if isinstance(section, ReportSection)  # not a pending one, never written
        ],
    }


def email_message(email: Email, *, sender: str, recipients: list[str]) -> EmailMessage:
    """multipart/mixed: [alternative: [text, related: [html, png]], csv]. Header values come
    from validated settings; the email package refuses line breaks in them besides."""
    message = EmailMessage()
    message["Subject"] = email.subject
    message["From"] = _address(sender)
    message["To"] = [_address(recipient) for recipient in recipients]
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_address(sender).domain)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    html_part = message.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(
        email.chart_png,
        "image",
        "png",
        cid=f"<{CHART_CID}>",
        filename="daily-chart.png",
        disposition="inline",  # shown in the HTML, not listed as an attachment
    )
    message.add_attachment(
        email.csv.encode(), "text", "csv", filename=email.csv_name, params={"charset": "utf-8"}
    )
    return message


def _address(text: str) -> Address:
    """ValueError for anything but one address (line breaks included), as the settings check."""
    name, address = parseaddr(mailbox(text))
    return Address(display_name=name, addr_spec=address)
