"""GET /analytics/summary, /analytics/timeseries, /analytics/ctas."""

from fastapi import APIRouter

from plugin_analytics.analytics.queries import activity_in, activity_per_bucket, cta_stats
from plugin_analytics.analytics.ranges import Interval, buckets
from plugin_analytics.analytics.schemas import (
    CtaReport,
    CtaReports,
    Metrics,
    PrecedingMessage,
    Summary,
    Timeseries,
    TimeseriesBucket,
)
from plugin_analytics.db.session import snapshot
from plugin_analytics.dependencies import SessionDep
from plugin_analytics.modules.registry import ModulesDep
from plugin_analytics.reading import RANGE_REFUSALS, RangeDep, range_echo
from plugin_analytics.security import READER_REFUSALS, ReaderGuard

router = APIRouter(tags=["analytics"], dependencies=[ReaderGuard], responses=READER_REFUSALS)


@router.get("/analytics/summary", response_model=Summary, responses=RANGE_REFUSALS)
def summary(session: SessionDep, span: RangeDep, modules: ModulesDep) -> Summary:
    """Chat activity and conversion over whole days in `tz` (definitions: docs/metrics.md),
    and the metrics installed analytics modules add (`plugins`)."""
    connection = snapshot(session)
    activity = activity_in(connection, span.site_num, span.start_us, span.end_us)
    plugins, errors = modules.summaries(connection, span)
    return Summary(
        **range_echo(span), **Metrics.of(activity), plugins=plugins, plugin_errors=errors
    )


@router.get("/analytics/timeseries", response_model=Timeseries, responses=RANGE_REFUSALS)
def timeseries(session: SessionDep, span: RangeDep, interval: Interval = "day") -> Timeseries:
    """The summary's metrics per local hour, day or week (Monday first), every bucket present."""
    spans = buckets(span, interval)
    activities = activity_per_bucket(snapshot(session), span.site_num, spans)
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
