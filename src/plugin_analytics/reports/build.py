"""The weekly report: the last complete week (Monday to Sunday in REPORT_TIMEZONE), read
through the same queries as the analytics endpoints, as the email's sections. Each built-in
section is one function of `SECTIONS`; the installed analytics modules' sections follow them.

Adding a section: a function `(source: Source) -> ReportSection | None`, placed in SECTIONS
where the email should show it. It returns a plain `ReportSection` (drawn like a module's), one
of the richer kinds of sections.py, or a `Pending` for a part that must not hold the
connection (an AI backend's answer). A new kind also needs its part, a macro of its name in
templates/sections.html and templates/sections.txt."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from plugin_analytics.ai.backend import backend_of
from plugin_analytics.ai.insights import Insight, InsightData, gather
from plugin_analytics.ai.insights import write as write_insight
from plugin_analytics.analytics.queries import (
    activity_in,
    activity_per_bucket,
    cta_stats,
    opening_messages,
)
from plugin_analytics.analytics.ranges import Bucket, DateRange, buckets
from plugin_analytics.analytics.schemas import Metrics
from plugin_analytics.analytics.text import most_frequent
from plugin_analytics.config import Settings
from plugin_analytics.modules.interface import ReportSection, week_before
from plugin_analytics.modules.registry import Modules
from plugin_analytics.reports.sections import (
    Chart,
    Noted,
    Pending,
    Ranking,
    Table,
    Tile,
    Tiles,
)

TOP_CTAS = 5
TOP_QUESTIONS = 5
METRICS = ("total_messages", "unique_users", "sessions", "cta_clicks", "conversion_rate")
LABELS = {
    "total_messages": "Messages",
    "unique_users": "Unique users",
    "sessions": "Sessions",
    "cta_clicks": "CTA clicks",
    "conversion_rate": "Conversion rate",
}
UP, DOWN, FLAT = "#047857", "#b91c1c", "#6b7280"
DASH = "\u2013"  # en dash, for ranges


def last_complete_week(now: datetime, tz: ZoneInfo, site_num: int) -> DateRange:
    """Monday to Sunday, the last week of the site that has ended at `now` in `tz`."""
    monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
    return DateRange(monday - timedelta(days=7), monday - timedelta(days=1), tz, site_num)


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
class Source:
    """What a section is built from: one consistent view of the database, the reported week,
    and its days (which the chart and the CSV attachment show too)."""

    connection: Connection
    week: DateRange
    days: Sequence[Day]


# A built-in section of the email (None: none this week).
Producer = Callable[[Source], ReportSection | Pending | None]


@dataclass(frozen=True)
class WeeklyReport:
    site_name: str
    week: DateRange
    days: list[Day]  # for the chart and the CSV attachment
    sections: list[ReportSection | Pending]  # in the email's order

    def written(self, settings: Settings) -> "WeeklyReport":
        """The report with its pending sections written: what is left to do once the
        snapshot is closed (the AI backend may be slow)."""
        done = [s.write(settings) if isinstance(s, Pending) else s for s in self.sections]
        return replace(self, sections=[section for section in done if section is not None])


def build_report(
    connection: Connection, week: DateRange, site_name: str, modules: Modules
) -> WeeklyReport:
    """Everything the email shows for `week`, from one consistent view of the database: the
    SECTIONS, then the modules'. The pending ones are written afterwards (`written`)."""
    day_buckets = buckets(week, "day")
    days = [
        Day(bucket, Metrics.of(activity))
        for bucket, activity in zip(
            day_buckets, activity_per_bucket(connection, week.site_num, day_buckets), strict=True
        )
    ]
    source = Source(connection, week, days)
    built = [section for produce in SECTIONS if (section := produce(source)) is not None]
    return WeeklyReport(site_name, week, days, [*built, *modules.report_sections(connection, week)])


# --- the built-in sections -----------------------------------------------------------------


def compared_with_week_before(source: Source) -> Tiles:
    """The week's numbers, each with its change since the week before."""
    week, previous = source.week, week_before(source.week)
    current = Metrics.of(activity_in(source.connection, week.site_num, week.start_us, week.end_us))
    before = Metrics.of(
        activity_in(source.connection, previous.site_num, previous.start_us, previous.end_us)
    )
    changes = [Change(name, current[name], before[name]) for name in METRICS]
    return Tiles(title="Compared with the week before", tiles=[_change_row(c) for c in changes])


def _change_row(change: Change) -> Tile:
    is_rate = change.name == "conversion_rate"
    value = f"{change.current:.1%}" if is_rate else f"{change.current:,}"
    if is_rate:
        points = (change.current - change.previous) * 100
        text, sign = f"{points:+.1f} pts", points
    elif change.ratio is None:
        text, sign = ("new" if change.current else "no change"), change.current
    else:
        text, sign = f"{change.ratio:+.0%}", change.ratio
    color = UP if sign > 0 else DOWN if sign < 0 else FLAT
    return {"label": LABELS[change.name], "value": value, "change": text, "color": color}


def day_by_day(source: Source) -> Chart:
    """Messages and CTA clicks per day, and the week's busiest day and hour."""
    days = source.days
    highlights: list[tuple[str, str]] = []
    if any(day.metrics["total_messages"] for day in days):
        busiest = max(days, key=lambda d: d.metrics["total_messages"])
        messages = busiest.metrics["total_messages"]
        highlights.append(("Busiest day", f"{busiest.day:%A %-d %B} ({messages:,} messages)"))
    hour = _busiest_hour(source.connection, source.week)
    if hour is not None:
        highlights.append(("Busiest hour", f"{hour:02d}:00{DASH}{(hour + 1) % 24:02d}:00"))
    return Chart(
        title="Day by day",
        paragraphs=[] if highlights else ["No chat messages this week."],
        rows=[
            (f"{d.day:%a %d %b}", f"{d.metrics['total_messages']:>8} / {d.metrics['cta_clicks']}")
            for d in days
        ],
        alt="Messages and CTA clicks per day",
        legend="messages / CTA clicks",
        highlights=highlights,
    )


def _busiest_hour(connection: Connection, week: DateRange) -> int | None:
    """The local hour of day with the most messages over the week (the earliest of a tie)."""
    hours = buckets(week, "hour")
    per_hour: defaultdict[int, int] = defaultdict(int)
    for bucket, activity in zip(
        hours, activity_per_bucket(connection, week.site_num, hours), strict=True
    ):
        per_hour[bucket.start.hour] += activity.user_messages + activity.assistant_messages
    hour, messages = max(per_hour.items(), key=lambda item: (item[1], -item[0]))
    return hour if messages else None


def top_calls_to_action(source: Source) -> Table:
    """The most clicked CTAs: clicks, users who clicked, share of all the week's clicks."""
    ctas = cta_stats(source.connection, source.week)
    total = sum(entry.clicks for entry in ctas)
    cells = [
        (
            entry.cta_id if entry.cta_id is not None else "(no cta_id)",
            f"{entry.clicks:,}",
            f"{len(entry.users):,}",
            f"{entry.clicks / total:.0%}",
        )
        for entry in ctas[:TOP_CTAS]
    ]
    return Table(
        title="Top calls to action",
        columns=("CTA", "Clicks", "Users", "Share"),
        cells=cells,
        rows=[
            (cta, f"{n} clicks, {users} users, {share} of clicks") for cta, n, users, share in cells
        ],
        empty="No CTA clicks this week.",
    )


def what_users_asked_about(source: Source) -> Pending:
    """A paragraph on the week's questions, the AI backend's (or the built-in summary): the
    messages are read now, the paragraph written once the snapshot is closed."""
    return Pending(partial(_insight_section, gather(source.connection, source.week)))


def _insight_section(data: InsightData, settings: Settings) -> Noted:
    insight = write_insight(data, backend_of(settings), settings, "this week")
    return Noted(
        title="What users asked about", paragraphs=[insight.paragraph], note=_source(insight)
    )


def _source(insight: Insight) -> str:
    if insight.source == "ai":
        return f"Written by {insight.model} from this week's messages."
    if insight.fallback_reason:
        return f"Built-in summary, because {insight.fallback_reason.rstrip('.')}."
    return "Built-in summary of the most frequent topics and phrases."


def what_users_opened_with(source: Source) -> Ranking:
    """The sessions' most frequent opening questions."""
    week = source.week
    questions = top_questions(
        opening_messages(source.connection, week.site_num, week.start_us, week.end_us)
    )
    return Ranking(
        title="What users opened with",
        rows=[(question, str(count)) for question, count in questions],
        empty="No user messages this week.",
    )


def top_questions(messages: list[str]) -> list[tuple[str, int]]:
    """The most frequent opening questions (see most_frequent)."""
    return most_frequent(messages, TOP_QUESTIONS)


SECTIONS: tuple[Producer, ...] = (
    compared_with_week_before,
    day_by_day,
    top_calls_to_action,
    what_users_asked_about,
    what_users_opened_with,
)
