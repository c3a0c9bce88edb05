"""POST /reports/weekly (send), GET /reports/weekly/preview (the HTML), GET /reports (history)."""

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from plugin_analytics.db.models import report_attempt_table
from plugin_analytics.dependencies import EngineDep, PageLimit, PageOffset, SessionDep, SettingsDep
from plugin_analytics.errors import refusals
from plugin_analytics.modules.registry import ModulesDep
from plugin_analytics.reports.render import preview_html
from plugin_analytics.reports.service import build_week, report_week, send_weekly_report
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep

router = APIRouter(tags=["reports"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)

# The preview shows user text (escaped) in the admin's browser: allow nothing but its own
# inline styles and the chart's data URI.
PREVIEW_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class ReportSent(BaseModel):
    status: str = Field(description="report_sent, or already_sent when the week was sent before.")
    week_start: date = Field(description="Monday of the reported week (REPORT_TIMEZONE).")
    week_end: date = Field(description="Sunday of the reported week.")
    recipients: list[str]


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
    responses=refusals(
        {
            409: "Email is not configured, or another worker is still sending this week",
            502: "The SMTP server was unavailable or refused; the week stays unsent",
        }
    ),
)
def send_weekly(
    engine: EngineDep,
    settings: SettingsDep,
    modules: ModulesDep,
    force: Annotated[bool, Query(description="Send again even if this week was sent.")] = False,
) -> ReportSent:
    """Email the report of the last complete week (Monday to Sunday in REPORT_TIMEZONE) to
    REPORT_RECIPIENTS, once per week whoever asks. SMTP down or refusing: 502, the week stays
    unsent and the schedule retries it."""
    outcome = send_weekly_report(engine, settings, modules=modules, trigger="manual", force=force)
    return ReportSent(
        status=outcome.status,
        week_start=outcome.week.start_date,
        week_end=outcome.week.end_date,
        recipients=outcome.recipients,
    )


@router.get("/reports/weekly/preview", response_class=HTMLResponse)
def preview_weekly(engine: EngineDep, settings: SettingsDep, modules: ModulesDep) -> HTMLResponse:
    """The HTML of the next report (the last complete week), as the email will show it."""
    report = build_week(engine, settings, report_week(settings), modules=modules)
    return HTMLResponse(
        preview_html(report),
        headers={"Content-Security-Policy": PREVIEW_POLICY, "Cache-Control": "no-store"},
    )


@router.get("/reports", response_model=ReportHistory)
def report_history(
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ReportHistory:
    """Every attempt to send a weekly report, newest first: week, status, recipients, times,
    error."""
    attempt = report_attempt_table
    rows = session.connection().execute(
        select(attempt).order_by(attempt.c.id.desc()).limit(limit).offset(offset)
    )
    return ReportHistory(
        reports=[
            ReportAttempt(**row._mapping, week_end=row.week_start + timedelta(days=6))
            for row in rows
        ]
    )
