"""The weekly report's numbers: the last complete week (Monday to Sunday in REPORT_TIMEZONE)
against the week before, read through the same queries as the analytics endpoints."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from plugin_analytics.ai.insights import Insight, InsightData, gather
from plugin_analytics.analytics.queries import (
    CtaStats,
    activity_in,
    activity_per_bucket,
    cta_stats,
    opening_messages,
)
from plugin_analytics.analytics.ranges import Bucket, DateRange, buckets
from plugin_analytics.analytics.schemas import Metrics
from plugin_analytics.analytics.text import most_frequent
from plugin_analytics.modules.interface import ReportSection, week_before
from plugin_analytics.modules.registry import Modules

TOP_CTAS = 5
TOP_QUESTIONS = 5
METRICS = ("total_messages", "unique_users", "sessions", "cta_clicks", "conversion_rate")


def last_complete_week(now: datetime, tz: ZoneInfo) -> DateRange:
    """Monday to Sunday, the last week that has ended at `now` in `tz`."""
    monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
    return DateRange(monday - timedelta(days=7), monday - timedelta(days=1), tz)


@dataclass(frozen=True)
class Change:
    name: str
    current: int | float
    previous: int | float

    @property
    def ratio(self) -> float | None:
        """current / previous - 1, None when there was nothing before to compare with."""
        return self.current / self.previous - 1 if self.previous else None


@dataclass(frozen=True)
class Day:
    bucket: Bucket  # the local day, midnight to midnight
    metrics: dict[str, int | float]

    @property
    def day(self) -> date:
        return self.bucket.start.date()


@dataclass(frozen=True)
class WeeklyReport:
    site_name: str
    week: DateRange
    changes: list[Change]
    days: list[Day]
    top_ctas: list[CtaStats]
    total_clicks: int
    opening_questions: list[tuple[str, int]]
    busiest_day: Day | None
    busiest_hour: tuple[int, int] | None  # (local hour of day, messages in that hour all week)
    insight_data: InsightData
    sections: list[ReportSection]  # the installed analytics modules'
    insight: Insight | None = None  # written once the snapshot is closed (service.build_week)

    @property
    def metrics(self) -> dict[str, int | float]:
        return {change.name: change.current for change in self.changes}


def build_report(
    connection: Connection, week: DateRange, site_name: str, modules: Modules | None = None
) -> WeeklyReport:
    """Everything the email shows for `week`, from one consistent view of the database, but
    the AI insight, which is written from `insight_data` afterwards."""
    previous = week_before(week)
    current = Metrics.of(activity_in(connection, week.start_us, week.end_us))
    before = Metrics.of(activity_in(connection, previous.start_us, previous.end_us))
    day_buckets = buckets(week, "day")
    days = [
        Day(bucket, Metrics.of(activity))
        for bucket, activity in zip(
            day_buckets, activity_per_bucket(connection, day_buckets), strict=True
        )
    ]
    ctas = cta_stats(connection, week)
    return WeeklyReport(
        site_name=site_name,
        week=week,
        changes=[Change(name, current[name], before[name]) for name in METRICS],
        days=days,
        top_ctas=ctas[:TOP_CTAS],
        total_clicks=sum(entry.clicks for entry in ctas),
        opening_questions=top_questions(opening_messages(connection, week.start_us, week.end_us)),
        busiest_day=max(days, key=lambda d: d.metrics["total_messages"])
        if current["total_messages"]
        else None,
        busiest_hour=_busiest_hour(connection, week),
        insight_data=gather(connection, week),
        sections=modules.report_sections(connection, week) if modules else [],
    )


def _busiest_hour(connection: Connection, week: DateRange) -> tuple[int, int] | None:
    hours = buckets(week, "hour")
    per_hour: defaultdict[int, int] = defaultdict(int)
    for bucket, activity in zip(hours, activity_per_bucket(connection, hours), strict=True):
        per_hour[bucket.start.hour] += activity.user_messages + activity.assistant_messages
    hour, messages = max(per_hour.items(), key=lambda item: (item[1], -item[0]))
    return (hour, messages) if messages else None


def top_questions(messages: list[str]) -> list[tuple[str, int]]:
    """The most frequent opening questions (see most_frequent)."""
    return most_frequent(messages, TOP_QUESTIONS)
