"""GET /analytics/summary, /analytics/timeseries, /analytics/ctas; DELETE /users/{user_id}."""

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator

from plugin_analytics.analytics.erasure import erase_user
from plugin_analytics.analytics.queries import activity_in, activity_per_bucket, cta_stats
from plugin_analytics.analytics.ranges import DateRange, Interval, buckets, date_range
from plugin_analytics.analytics.schemas import (
    CtaReport,
    CtaReports,
    Erasure,
    Metrics,
    PrecedingMessage,
    Summary,
    Timeseries,
    TimeseriesBucket,
)
from plugin_analytics.db.session import EngineDep, SessionDep, snapshot
from plugin_analytics.errors import refusals
from plugin_analytics.params import IdPath
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep

router = APIRouter(tags=["analytics"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    # Pydantic would also read "0" or "20260101" as a Unix time: a day in 1970.
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


StartDate = Annotated[
    date | None,
    BeforeValidator(_iso_day),
    Query(description="First day (YYYY-MM-DD), inclusive. Default: 6 days ago."),
]
EndDate = Annotated[
    date | None,
    BeforeValidator(_iso_day),
    Query(description="Last day (YYYY-MM-DD), inclusive. Default: today."),
]
TimeZone = Annotated[str, Query(description="IANA time zone of the days, e.g. Asia/Kolkata.")]


async def valid_range(
    start_date: StartDate = None, end_date: EndDate = None, tz: TimeZone = "UTC"
) -> DateRange:
    """The report's days: 400 for an unknown zone, an inverted or a longer than 3-year range."""
    return date_range(start_date, end_date, tz)


RangeDep = Annotated[DateRange, Depends(valid_range)]
RANGE_REFUSALS = refusals(
    {400: "Unknown time zone, or dates out of order, out of range or more than 3 years apart"}
)


def range_echo(span: DateRange) -> dict[str, object]:
    return {"start_date": span.start_date, "end_date": span.end_date, "tz": span.tz.key}


@router.get("/analytics/summary", response_model=Summary, responses=RANGE_REFUSALS)
def summary(request: Request, session: SessionDep, span: RangeDep) -> Summary:
    """Chat activity and conversion over whole days in `tz` (definitions: docs/metrics.md),
    and the metrics installed analytics modules add (`plugins`)."""
    connection = snapshot(session)
    activity = activity_in(connection, span.start_us, span.end_us)
    plugins, errors = request.app.state.modules.summaries(connection, span)
    return Summary(
        **range_echo(span), **Metrics.of(activity), plugins=plugins, plugin_errors=errors
    )


@router.get("/analytics/timeseries", response_model=Timeseries, responses=RANGE_REFUSALS)
def timeseries(session: SessionDep, span: RangeDep, interval: Interval = "day") -> Timeseries:
    """The summary's metrics per local hour, day or week (Monday first), every bucket present."""
    spans = buckets(span, interval)
    activities = activity_per_bucket(snapshot(session), spans)
    return Timeseries(
        **range_echo(span),
        interval=interval,
        buckets=[
            TimeseriesBucket(start=bucket.start, end=bucket.end, **Metrics.of(activity))
            for bucket, activity in zip(spans, activities, strict=True)
        ],
    )


@router.get("/analytics/ctas", response_model=CtaReports, responses=RANGE_REFUSALS)
def ctas(session: SessionDep, span: RangeDep) -> CtaReports:
    """Per CTA: clicks, users, converted sessions, share, and what the assistant said before."""
    stats = cta_stats(snapshot(session), span)
    total = sum(entry.clicks for entry in stats)
    reports = [
        CtaReport(
            cta_id=entry.cta_id,
            clicks=entry.clicks,
            unique_users=len(entry.users),
            converted_sessions=len(entry.sessions),
            share_of_clicks=entry.clicks / total,
            preceding_assistant_messages=[
                PrecedingMessage(message=message, clicks=clicks)
                for message, clicks in entry.top_preceding()
            ],
        )
        for entry in stats
    ]
    return CtaReports(**range_echo(span), total_clicks=total, ctas=reports)


@router.delete("/users/{user_id:id}", response_model=Erasure, tags=["privacy"])
def erase(user_id: IdPath, engine: EngineDep) -> Erasure:
    """Erase every event of the user (right to erasure); analytics stay exact. Repeating it is
    harmless."""
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        deleted = erase_user(connection, user_id)
    return Erasure(user_id=user_id, deleted_events=deleted)
