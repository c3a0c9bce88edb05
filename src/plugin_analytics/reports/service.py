"""Sending the weekly report: claim the week, build and render it, hand it to SMTP, record the
outcome. Used by POST /reports/weekly, the schedule and `plugin-analytics report send`."""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from plugin_analytics.ai.backend import longest_wait_s
from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.config import Settings, mailbox
from plugin_analytics.db.session import snapshot_options
from plugin_analytics.errors import APIError
from plugin_analytics.exports.summary import buckets_csv
from plugin_analytics.modules.registry import Modules
from plugin_analytics.reports.build import WeeklyReport, build_report, last_complete_week
from plugin_analytics.reports.claims import (
    LEASE,
    Claim,
    Taken,
    Trigger,
    claim_week,
    finish,
    week_status,
)
from plugin_analytics.reports.mailer import MailError, send_email
from plugin_analytics.reports.render import email_message, render
from plugin_analytics.sites.registry import Site, all_sites

logger = logging.getLogger(__name__)

WAIT_FOR_OTHER_SENDER_S = 60.0
BUILD_ALLOWANCE = timedelta(minutes=1)  # building and rendering take ~1 s at 10M events
POLL_S = 0.2
RECORD_TRIES, RECORD_RETRY_S = 5, 2.0


class EmailNotConfigured(APIError):
    status_code = 409


class ReportNotSent(APIError):
    """SMTP was down or refused: the week stays unsent (and is retried by the schedule)."""

    status_code = 502


class ReportBusy(APIError):
    status_code = 409


@dataclass(frozen=True)
class Outcome:
    site_id: str
    status: str  # report_sent | already_sent | not_sent (held by another sender, or failed)
    week: DateRange
    recipients: list[str]
    error: str | None = None


def lease_for(settings: Settings, recipients: int) -> timedelta:
    """Long enough for the slowest send the settings allow: the AI backend may take its whole
    time, and every SMTP step (connect, EHLO, TLS, login, MAIL, each RCPT, DATA, QUIT) the
    whole timeout; at least LEASE."""
    steps = 8 + recipients
    smtp = steps * timedelta(seconds=settings.email_timeout_seconds)
    return max(LEASE, BUILD_ALLOWANCE + timedelta(seconds=longest_wait_s(settings)) + smtp)


def report_week(site: Site, now: datetime | None = None) -> DateRange:
    """The site's last complete week, in its time zone."""
    return last_complete_week(now or datetime.now(UTC), ZoneInfo(site.timezone), site.num)


def build_week(
    engine: Engine, settings: Settings, site: Site, week: DateRange, *, modules: Modules
) -> WeeklyReport:
    """The report's sections, from one consistent view (PostgreSQL: repeatable read), and then,
    with the connection back in the pool, the pending ones (the AI backend may be slow)."""
    options = snapshot_options(engine.dialect.name)
    with engine.connect().execution_options(**options) as connection, connection.begin():
        report = build_report(connection, week, site.name, modules)
    return report.written(settings)


def daily_csv(report: WeeklyReport) -> str:
    """The attachment: GET /analytics/export/summary?interval=day of the week, from the days
    the report read already."""
    return buckets_csv((day.bucket, day.metrics) for day in report.days)


def sender_of(settings: Settings) -> str:
    """EMAIL_FROM, else EMAIL_USER when it is an address."""
    if settings.email_from:
        return settings.email_from
    try:
        return mailbox(settings.email_user or "")
    except ValueError:
        raise EmailNotConfigured(
            "set EMAIL_FROM: the sender's address (EMAIL_USER is not an address)"
        ) from None


def send_weekly_report(
    engine: Engine,
    settings: Settings,
    site: Site,
    *,
    modules: Modules,
    trigger: Trigger,
    force: bool = False,
    now: datetime | None = None,
    wait: bool = True,
) -> Outcome:
    """Send the site's last complete week's report to its recipients unless it was sent (or is
    being sent) already. With `wait`, a week another sender holds is awaited and its outcome
    answered."""
    recipients = list(site.report_recipients)
    if not settings.email_host or not recipients:
        what = "REPORT_RECIPIENTS" if site.is_default else f"the report recipients of {site.id!r}"
        raise EmailNotConfigured(
            f"email is not configured: set EMAIL_HOST and {what} (and EMAIL_FROM)"
        )
    week = report_week(site, now)
    sender_of(settings)  # before claiming: a missing sender is not the SMTP server's failure
    claim = claim_week(
        engine,
        site.num,
        week.start_date,
        now=_now(),
        trigger=trigger,
        recipients=recipients,
        force=force,
        lease=lease_for(settings, len(recipients)),
    )
    if isinstance(claim, Taken):
        if not wait:
            status = "already_sent" if claim.status == "sent" else "not_sent"
            return Outcome(site.id, status, week, recipients)
        return _outcome_of_other_sender(engine, site, week, claim, recipients)
    _deliver(engine, settings, site, modules, week, claim)
    return Outcome(site.id, "report_sent", week, recipients)


def send_every_site(
    engine: Engine, settings: Settings, *, modules: Modules, force: bool = False
) -> list[Outcome]:
    """POST /reports/weekly without a site: each site that has recipients, in its own zone.
    One site's failure does not stop the others; 409 when no site has recipients, 502 when
    every send failed."""
    with engine.connect() as connection:
        sites = [site for site in all_sites(connection, settings) if site.report_recipients]
    if not sites:
        raise EmailNotConfigured(
            "email is not configured: set EMAIL_HOST and REPORT_RECIPIENTS, or a site's "
            "report recipients (and EMAIL_FROM)"
        )
    outcomes: list[Outcome] = []
    failures: list[ReportNotSent | ReportBusy] = []
    for site in sites:
        try:
            outcomes.append(
                send_weekly_report(
                    engine, settings, site, modules=modules, trigger="manual", force=force
                )
            )
        except (ReportNotSent, ReportBusy) as exc:  # failed, or another sender still holds it
            failures.append(exc)
            week, recipients = report_week(site), list(site.report_recipients)
            outcomes.append(Outcome(site.id, "not_sent", week, recipients, str(exc.detail)))
    if len(failures) == len(sites):
        raise failures[0]
    return outcomes


def _deliver(
    engine: Engine,
    settings: Settings,
    site: Site,
    modules: Modules,
    week: DateRange,
    claim: Claim,
) -> None:
    try:
        report = build_week(engine, settings, site, week, modules=modules)
        message = email_message(
            render(report, daily_csv(report)),
            sender=sender_of(settings),
            recipients=list(site.report_recipients),
        )
        refused = send_email(message, settings)
    except MailError as exc:
        status = finish(engine, claim, now=_now(), error=str(exc))
        logger.warning("weekly report for %s not sent: %s", week.start_date, exc)
        if status == "sent":
            raise ReportNotSent(
                f"the report was not sent again: {exc}; the week was sent before, so it is not "
                "retried"
            ) from None
        raise ReportNotSent(f"the report was not sent: {exc}; it will be retried") from None
    except BaseException as exc:
        finish(engine, claim, now=_now(), error=f"internal error: {type(exc).__name__}")
        raise
    note = "refused by the server: " + ", ".join(f"{r} ({why})" for r, why in refused.items())
    _record_sent(engine, claim, note if refused else None)
    logger.info(
        "weekly report of %s for %s sent to %d recipients",
        site.id,
        week.start_date,
        len(site.report_recipients),
    )


def _record_sent(engine: Engine, claim: Claim, note: str | None) -> None:
    """The email is out: try hard to record it, or the week would be sent again once the lease
    ran out."""
    for attempt in range(RECORD_TRIES):
        try:
            finish(engine, claim, now=_now(), note=note)
            return
        except SQLAlchemyError:
            if attempt == RECORD_TRIES - 1:
                raise
            logger.warning("recording the sent report failed; trying again", exc_info=True)
            time.sleep(RECORD_RETRY_S)


def _outcome_of_other_sender(
    engine: Engine, site: Site, week: DateRange, taken: Taken, recipients: list[str]
) -> Outcome:
    """Another request or worker holds the week: wait for its result and answer with it."""
    deadline = time.monotonic() + WAIT_FOR_OTHER_SENDER_S
    while taken.status == "sending" and time.monotonic() < deadline:
        time.sleep(POLL_S)
        taken = week_status(engine, week.site_num, week.start_date) or taken
    if taken.status == "sent":
        return Outcome(site.id, "already_sent", week, recipients)
    if taken.status == "backoff":
        raise ReportNotSent(f"the report was not sent: {taken.error}; it will be retried")
    raise ReportBusy("the report for this week is being sent right now; ask again shortly")


def _now() -> datetime:
    return datetime.now(UTC)
