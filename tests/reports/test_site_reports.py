"""Each site's weekly report over HTTP through the app, with a real SMTP server on loopback, on
SQLite and PostgreSQL: its own recipients, name, numbers and week (in its own time zone), sent
once per (site, week) by a person asking or by the schedule; one site's refused email does not
stop another's; a site without recipients gets none."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
import trustme
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import Engine

from plugin_analytics.modules.registry import load_modules
from plugin_analytics.reports import service
from plugin_analytics.reports.claims import Claim, claim_week
from plugin_analytics.reports.schedule import ReportSchedule
from tests.conftest import ADMIN, client_for
from tests.reports.conftest import settings_for
from tests.reports.mail import (
    ENVELOPE_RECIPIENTS,
    PARIS,
    RECIPIENTS,
    ingest,
    message_parts,
    msg,
    send,
    week_events,
    week_label,
)
from tests.reports.smtp import Handler, SmtpServer
from tests.sites.helpers import site_num

pytestmark = pytest.mark.anyio

AUCKLAND = ZoneInfo("Pacific/Auckland")
SHOP_RECIPIENTS = ["Shop Owner <owner@shop.example>", "orders@shop.example"]
SHOP_ENVELOPE = ["owner@shop.example", "orders@shop.example"]
DEFAULT_MESSAGES = 18  # week_events' messages in default's week (Europe/Paris)
SHOP_MESSAGES = 5  # shop_events' messages in shop's week in Auckland (4 in a UTC or Paris week)
EVERY_MINUTE = "* * * * *"
FIELDS = ("week_start", "recipients", "forced")
SITES = ("default", "shop", "blog")


# --- the sites and their weeks -------------------------------------------------------------


def last_monday(zone: ZoneInfo) -> date:
    """Monday of the last complete week in `zone`."""
    today = datetime.now(zone).date()
    return today - timedelta(days=today.weekday() + 7)


def local(monday: date, day: int, hour: int, minute: int, zone: ZoneInfo = AUCKLAND) -> str:
    moment = datetime.combine(monday + timedelta(days=day), datetime.min.time(), zone)
    return moment.replace(hour=hour, minute=minute).isoformat()


def shop_events(monday: date) -> list[dict[str, Any]]:
    """5 messages in the Auckland week of `monday`, 2 of them in its first minutes (Sunday in
    UTC and Paris), 1 just before it and 1 just after it (both inside the UTC week)."""
    return [
        msg("nz-1", "nz-s1", local(monday, 0, 0, 10), "Kia ora, do you ship to Wellington?"),
        msg("nz-1", "nz-s1", local(monday, 0, 0, 11), "Yes, overnight.", "assistant"),
        msg("nz-2", "nz-s2", local(monday, 2, 12, 0), "Is the sale still on?"),
        msg("nz-2", "nz-s2", local(monday, 2, 12, 1), "Until Friday.", "assistant"),
        msg("nz-3", "nz-s3", local(monday, 6, 23, 50), "Open tomorrow?"),
        msg("nz-4", "nz-s4", local(monday, -1, 23, 50), "Last week's question"),
        msg("nz-5", "nz-s5", local(monday, 7, 0, 10), "This week's question"),
    ]


def shop(**fields: Any) -> dict[str, Any]:
    """POST /sites body of the site `shop`: name Shop, Auckland, its own recipients."""
    names = {"id": "shop", "name": "Shop", "timezone": "Pacific/Auckland"}
    return names | {"report_recipients": SHOP_RECIPIENTS} | fields


async def make_site(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/sites", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


async def ingest_into(client: httpx.AsyncClient, site: str, events: list[dict[str, Any]]) -> None:
    response = await client.post("/client/batch", json={"events": events, "site": site})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == len(events)


async def two_sites(client: httpx.AsyncClient) -> tuple[date, date]:
    """`default` (Acme Shop, Paris, REPORT_RECIPIENTS) and `shop`, each with its own week of
    events; the Monday of each one's last complete week."""
    await make_site(client, shop())
    paris, auckland = last_monday(PARIS), last_monday(AUCKLAND)
    await ingest(client, week_events(paris))
    await ingest_into(client, "shop", shop_events(auckland))
    return paris, auckland


def outcome(site: str | None, monday: date, recipients: list[str], status: str) -> dict[str, Any]:
    """One site's outcome in `sites`; with site None, the answer's own fields."""
    week = {"week_start": monday.isoformat(), "week_end": (monday + timedelta(days=6)).isoformat()}
    body = {"status": status, **week, "recipients": recipients}
    return body if site is None else {"site": site, **body}


async def site_history(
    client: httpx.AsyncClient, site: str | None = None, keys: tuple[str, ...] = FIELDS
) -> list[tuple[Any, ...]]:
    """GET /reports (of `site`, else default's): these fields of each attempt, newest first."""
    params = {} if site is None else {"site": site}
    response = await client.get("/reports", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [tuple(a[key] for key in keys) for a in response.json()["reports"]]


# --- reading the received messages ---------------------------------------------------------


def check_report(message: EmailMessage, name: str, monday: date, zone: str, count: int) -> None:
    sunday = monday + timedelta(days=6)
    assert message["Subject"] == f"{name}: weekly chat report, {week_label(monday, sunday)}"
    lines = message_parts(message)["text"].get_content().splitlines()
    assert f"times in {zone})" in lines[1]
    [messages] = [line.split()[1] for line in lines if line.startswith("Messages ")]
    assert messages == str(count)
    assert message_parts(message)["csv"].get_filename() == f"daily_{monday}_to_{sunday}.csv"


def check_both(smtp: SmtpServer, paris: date, auckland: date) -> None:
    """One email to each site's recipients, each with its own site's name, week and numbers."""
    mail = {tuple(r.recipients): r.message for r in smtp.received}
    assert len(smtp.received) == 2
    assert set(mail) == {tuple(ENVELOPE_RECIPIENTS), tuple(SHOP_ENVELOPE)}
    default_mail, shop_mail = mail[tuple(ENVELOPE_RECIPIENTS)], mail[tuple(SHOP_ENVELOPE)]
    assert default_mail["To"] == "owner@example.com, Team <team@example.com>"
    assert shop_mail["To"] == "Shop Owner <owner@shop.example>, orders@shop.example"
    check_report(default_mail, "Acme Shop", paris, "Europe/Paris", DEFAULT_MESSAGES)
    check_report(shop_mail, "Shop", auckland, "Pacific/Auckland", SHOP_MESSAGES)


# --- sending every site, or one --------------------------------------------------------------


async def test_every_site_with_recipients_gets_its_own_report_once(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    paris, auckland = await two_sites(report_client)
    response = await send(report_client)
    assert response.status_code == 200, response.text
    assert response.json() == outcome(None, paris, RECIPIENTS, "report_sent") | {
        "sites": [
            outcome("default", paris, RECIPIENTS, "report_sent"),
            outcome("shop", auckland, SHOP_RECIPIENTS, "report_sent"),
        ]
    }
    check_both(smtp, paris, auckland)

    again = (await send(report_client)).json()
    assert again["status"] == "already_sent"
    assert [(s["site"], s["status"]) for s in again["sites"]] == [
        ("default", "already_sent"),
        ("shop", "already_sent"),
    ]
    assert len(smtp.received) == 2

    forced = await send(report_client, site="shop", force="true")
    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "report_sent"
    assert len(smtp.received) == 3
    assert smtp.received[-1].recipients == SHOP_ENVELOPE
    check_report(smtp.received[-1].message, "Shop", auckland, "Pacific/Auckland", SHOP_MESSAGES)
    assert await site_history(report_client, "shop") == [
        (auckland.isoformat(), SHOP_RECIPIENTS, True),
        (auckland.isoformat(), SHOP_RECIPIENTS, False),
    ]
    assert await site_history(report_client) == [(paris.isoformat(), RECIPIENTS, False)]


async def test_one_site_alone_and_each_sites_history(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    paris, auckland = await two_sites(report_client)
    response = await send(report_client, site="shop")
    assert response.status_code == 200, response.text
    assert response.json() == outcome(None, auckland, SHOP_RECIPIENTS, "report_sent")  # no `sites`
    assert [r.recipients for r in smtp.received] == [SHOP_ENVELOPE]
    assert await site_history(report_client, "shop") == [
        (auckland.isoformat(), SHOP_RECIPIENTS, False)
    ]
    assert await site_history(report_client) == []
    assert await site_history(report_client, "default") == []

    assert (await send(report_client, site="default")).json()["status"] == "report_sent"
    assert (await send(report_client, site="shop")).json()["status"] == "already_sent"
    assert [r.recipients for r in smtp.received] == [SHOP_ENVELOPE, ENVELOPE_RECIPIENTS]
    check_both(smtp, paris, auckland)
    assert await site_history(report_client) == [(paris.isoformat(), RECIPIENTS, False)]
    assert len(await site_history(report_client, "shop")) == 1

    unknown = await send(report_client, site="nowhere")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "there is no site 'nowhere'"}
    assert len(smtp.received) == 2


async def test_the_preview_is_of_the_site_asked_for(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    await two_sites(report_client)
    preview = await report_client.get("/reports/weekly/preview?site=shop", headers=ADMIN)
    assert preview.status_code == 200, preview.text
    assert "Shop &middot; weekly chat report" in preview.text
    assert "Acme Shop" not in preview.text
    assert "times in Pacific/Auckland" in preview.text
    default = await report_client.get("/reports/weekly/preview", headers=ADMIN)
    assert "Acme Shop &middot; weekly chat report" in default.text
    assert "times in Europe/Paris" in default.text
    assert smtp.received == []


# --- one site's failure --------------------------------------------------------------------


@dataclass
class DomainRefusingHandler(Handler):
    """Refuses at RCPT every recipient of the domains in `refused_domains`."""

    refused_domains: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.rpartition("@")[2] in self.refused_domains:
            return "550 5.1.2 no mail for this domain"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"


@pytest.fixture
def refusing_smtp(ca: trustme.CA, trust_ca: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(ca, "starttls")
    server.handler = DomainRefusingHandler()
    server.start()
    yield server
    server.stop()


def refuse(smtp: SmtpServer, *domains: str) -> None:
    assert isinstance(smtp.handler, DomainRefusingHandler)
    smtp.handler.refused_domains = set(domains)


async def test_one_sites_refused_email_does_not_stop_the_others(
    database_url: str, refusing_smtp: SmtpServer
) -> None:
    smtp = refusing_smtp
    async with client_for(settings_for(database_url, **smtp.settings())) as client:
        await check_refusals(client, smtp)


async def check_refusals(client: httpx.AsyncClient, smtp: SmtpServer) -> None:
    paris, auckland = await two_sites(client)
    refuse(smtp, "example.com", "shop.example")
    every = await send(client)
    assert every.status_code == 502, every.text
    assert smtp.received == []

    refuse(smtp, "shop.example")
    response = await send(client)
    assert response.status_code == 200, response.text
    refused = f"SMTP server localhost:{smtp.port} refused every recipient: " + ", ".join(
        SHOP_ENVELOPE
    )
    assert response.json()["status"] == "report_sent"
    assert response.json()["sites"] == [
        outcome("default", paris, RECIPIENTS, "report_sent"),
        outcome("shop", auckland, SHOP_RECIPIENTS, "not_sent")
        | {"error": f"the report was not sent: {refused}; it will be retried"},
    ]
    assert [r.recipients for r in smtp.received] == [ENVELOPE_RECIPIENTS]
    assert await site_history(client, "shop", ("status", "error")) == [("failed", refused)] * 2

    refuse(smtp)
    retried = (await send(client)).json()
    assert [(s["site"], s["status"]) for s in retried["sites"]] == [
        ("default", "already_sent"),
        ("shop", "report_sent"),
    ]
    check_both(smtp, paris, auckland)


async def test_a_site_held_by_another_sender_does_not_stop_the_others(
    report_client: httpx.AsyncClient,
    smtp: SmtpServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, auckland = await two_sites(report_client)
    monkeypatch.setattr(service, "WAIT_FOR_OTHER_SENDER_S", 0.2)  # not a minute per run
    # Another worker is sending shop's week, and still is once the request stops waiting.
    shop_week = (site_num(engine, "shop"), auckland)
    held = claim_week(engine, *shop_week, now=datetime.now(UTC), trigger="schedule", recipients=[])
    assert isinstance(held, Claim)
    response = await send(report_client)
    assert [r.recipients for r in smtp.received] == [ENVELOPE_RECIPIENTS]
    assert response.status_code == 200, response.text  # default's report went out
    assert [(s["site"], s["status"]) for s in response.json()["sites"]] == [
        ("default", "report_sent"),
        ("shop", "not_sent"),
    ]


# --- the schedule --------------------------------------------------------------------------


async def test_the_schedule_sends_each_due_site_once(
    database_url: str, smtp: SmtpServer, engine: Engine
) -> None:
    settings = settings_for(database_url, **smtp.settings(), report_schedule=EVERY_MINUTE)
    schedule = ReportSchedule(engine, settings, load_modules())
    async with client_for(settings) as client:
        paris, auckland = await two_sites(client)
        await make_site(client, {"id": "blog", "name": "Blog"})  # no recipients
        await ingest_into(client, "blog", shop_events(auckland))
        due = {site: schedule.is_due(datetime.now(PARIS), site) for site in SITES}
        assert due == {"default": True, "shop": True, "blog": False}

        await anyio.to_thread.run_sync(schedule.send_if_due)
        check_both(smtp, paris, auckland)
        await anyio.to_thread.run_sync(schedule.send_if_due)
        assert len(smtp.received) == 2
        assert not any(schedule.is_due(datetime.now(PARIS), site) for site in ("default", "shop"))
        for site in ("default", "shop"):
            assert await site_history(client, site, ("trigger", "status")) == [("schedule", "sent")]
        assert await site_history(client, "blog") == []
        assert (await send(client)).json()["status"] == "already_sent"
    assert len(smtp.received) == 2


async def test_a_site_is_due_at_its_own_schedule_in_its_own_zone(
    database_url: str, smtp: SmtpServer, engine: Engine
) -> None:
    settings = settings_for(database_url, **smtp.settings(), report_schedule=EVERY_MINUTE)
    schedule = ReportSchedule(engine, settings, load_modules())
    async with client_for(settings) as client:
        await make_site(client, shop(report_schedule="0 8 * * 1"))  # Monday 08:00
        auckland = last_monday(AUCKLAND)
        await ingest_into(client, "shop", shop_events(auckland))
    # The Monday after shop's week, 08:00 in Auckland (Sunday evening in UTC and Paris).
    eight = datetime.fromisoformat(local(auckland, 7, 8, 0))
    assert not schedule.is_due(eight - timedelta(minutes=1), "shop")
    assert schedule.is_due(eight, "shop")
    assert smtp.received == []


# --- sites without recipients --------------------------------------------------------------


async def test_a_site_without_recipients_is_not_sent(database_url: str, smtp: SmtpServer) -> None:
    email = {key: value for key, value in smtp.settings().items() if key != "report_recipients"}
    async with client_for(settings_for(database_url, **email)) as client:
        await make_site(client, {"id": "blog", "name": "Blog", "timezone": "Pacific/Auckland"})
        await ingest(client, week_events(last_monday(PARIS)))
        await ingest_into(client, "blog", shop_events(last_monday(AUCKLAND)))
        for params, setting in [
            ({}, "REPORT_RECIPIENTS, or a site's report recipients"),
            ({"site": "blog"}, "the report recipients of 'blog'"),
            ({"site": "default"}, "REPORT_RECIPIENTS"),
        ]:
            refused = await send(client, **params)
            assert refused.status_code == 409
            assert refused.json() == {
                "detail": f"email is not configured: set EMAIL_HOST and {setting} (and EMAIL_FROM)"
            }

        auckland = last_monday(AUCKLAND)
        await make_site(client, shop())
        await ingest_into(client, "shop", shop_events(auckland))
        response = await send(client)
        assert response.status_code == 200, response.text
        # One site has recipients: its own outcome, without `sites`.
        assert response.json() == outcome(None, auckland, SHOP_RECIPIENTS, "report_sent")
        assert [r.recipients for r in smtp.received] == [SHOP_ENVELOPE]
        for site in ("default", "blog"):
            assert await site_history(client, site) == []
    assert len(smtp.received) == 1
