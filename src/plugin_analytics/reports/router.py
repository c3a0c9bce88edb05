"""POST /reports/weekly (send), GET /reports/weekly/preview (the HTML), GET /reports (history)."""

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from plugin_analytics.access.ring import ADMIN_READER
from plugin_analytics.db.models import report_attempt_table
from plugin_analytics.dependencies import (
    EngineDep,
    PageLimit,
    PageOffset,
    ServicesDep,
    SessionDep,
    SettingsDep,
)
from plugin_analytics.errors import refusals
from plugin_analytics.modules.registry import ModulesDep
from plugin_analytics.reading import SITE_REFUSALS, SiteDep, SiteQuery, current_site
from plugin_analytics.reports.render import preview_html
from plugin_analytics.reports.service import (
    Outcome,
    build_week,
    report_week,
    send_every_site,
    send_weekly_report,
)
from plugin_analytics.security import ADMIN_REFUSALS, READER_REFUSALS, AdminDep, ReaderGuard

router = APIRouter(tags=["reports"], dependencies=[ReaderGuard], responses=READER_REFUSALS)

# The preview shows user text (escaped) in the admin's browser: allow nothing but its own
# inline styles and the chart's data URI.
PREVIEW_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class SiteReportSent(BaseModel):
    site: str
    status: str = Field(
        description="report_sent, already_sent when the week was sent before, or not_sent "
        "(`error` says why; the schedule retries it)."
    )
    week_start: date = Field(description="Monday of the reported week, in the site's zone.")
    week_end: date = Field(description="Sunday of the reported week.")
    recipients: list[str]
    error: str | None = None


class ReportSent(BaseModel):
    status: str = Field(description="report_sent, or already_sent when the week was sent before.")
    week_start: date = Field(description="Monday of the reported week (the site's time zone).")
    week_end: date = Field(description="Sunday of the reported week.")
    recipients: list[str]
    sites: list[SiteReportSent] | None = Field(
        default=None,
        description="Without `site`, when more than one site has recipients: each one's "
        "outcome (the fields above are then `default`'s, or the first sent site's).",
    )


class ReportAttempt(BaseModel):
    week_start: date
    week_end: date
    trigger: str = Field(description="manual (POST /reports/weekly), schedule or cli.")
    forced: bool
    status: str = Field(description="sending, sent or failed.")
    recipients: list[str]
    started_at: datetime
    finished_at: datetime | None
    error: str | None = Field(description="Why it failed, or recipients the server refused.")


class ReportHistory(BaseModel):
    reports: list[ReportAttempt] = Field(description="Newest first.")


@router.post(
    "/reports/weekly",
    response_model=ReportSent,
    response_model_exclude_none=True,  # `sites` only without `site`, `error` only when failed
    dependencies=[AdminDep],
    responses=ADMIN_REFUSALS
    | refusals(
        {
            404: "No such site",
            409: "Email is not configured, or another worker is still sending this week",
            502: "The SMTP server was unavailable or refused; the week stays unsent",
        }
    ),
)
def send_weekly(
    services: ServicesDep,
    engine: EngineDep,
    settings: SettingsDep,
    modules: ModulesDep,
    site: SiteQuery = None,
    force: Annotated[bool, Query(description="Send again even if this week was sent.")] = False,
) -> ReportSent:
    """Email a site's report of its last complete week (Monday to Sunday in the site's time
    zone) to its recipients, once per week whoever asks; without `site`, every site's that has
    recipients. SMTP down or refusing: 502, the week stays unsent and the schedule retries."""
    if site is not None:
        outcome = send_weekly_report(
            engine,
            settings,
            current_site(services, settings, ADMIN_READER, site),
            modules=modules,
            trigger="manual",
            force=force,
        )
        return ReportSent(**_sent(outcome).model_dump(exclude={"site", "error"}))
    outcomes = send_every_site(engine, settings, modules=modules, force=force)
    first = outcomes[0]
    for outcome in outcomes:
        if outcome.status != "not_sent":
            first = outcome
            break
    status = "report_sent" if any(o.status == "report_sent" for o in outcomes) else first.status
    return ReportSent(
        status=status,
        week_start=first.week.start_date,
        week_end=first.week.end_date,
        recipients=first.recipients,
        # One site (the seed's use): its outcome alone, as before there were sites.
        sites=[_sent(outcome) for outcome in outcomes] if len(outcomes) > 1 else None,
    )


def _sent(outcome: Outcome) -> SiteReportSent:
    return SiteReportSent(
        site=outcome.site_id,
        status=outcome.status,
        week_start=outcome.week.start_date,
        week_end=outcome.week.end_date,
        recipients=outcome.recipients,
        error=outcome.error,
    )


@router.get("/reports/weekly/preview", response_class=HTMLResponse, responses=SITE_REFUSALS)
def preview_weekly(
    engine: EngineDep, settings: SettingsDep, modules: ModulesDep, site: SiteDep
) -> HTMLResponse:
    """The HTML of the site's next report (its last complete week), as the email will show it."""
    report = build_week(engine, settings, site, report_week(site), modules=modules)
    return HTMLResponse(
        preview_html(report),
        headers={"Content-Security-Policy": PREVIEW_POLICY, "Cache-Control": "no-store"},
    )


@router.get("/reports", response_model=ReportHistory, responses=SITE_REFUSALS)
def report_history(
    session: SessionDep,
    site: SiteDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ReportHistory:
    """Every attempt to send the site's weekly report, newest first: week, status, recipients,
    times, error."""
    attempt = report_attempt_table
    rows = session.connection().execute(
        select(attempt)
        .where(attempt.c.site_num == site.num)
        .order_by(attempt.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return ReportHistory(
        reports=[
            ReportAttempt(**row._mapping, week_end=row.week_start + timedelta(days=6))
            for row in rows
        ]
    )
