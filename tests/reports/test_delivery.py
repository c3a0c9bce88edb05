"""Sending the weekly report: who may ask, the history of attempts, and SMTP down, refusing,
with the wrong password, or over implicit TLS or plain SMTP (a real server on loopback; STARTTLS
and AUTH required unless said otherwise), through the real app on SQLite and PostgreSQL. What
the email says: test_email.py."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trustme

from tests.conftest import ADMIN, client_for
from tests.reports.conftest import settings_for
from tests.reports.mail import (
    RECIPIENTS,
    check_delivery,
    history,
    ingest,
    message_parts,
    report_monday,
    send,
    sent_body,
    week_events,
    week_label,
)
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio


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


# --- history -------------------------------------------------------------------------------


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
    # newest first
    assert times[0][0] >= times[1][1]
    assert times[1][0] >= times[2][1]

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
