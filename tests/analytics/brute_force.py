"""The analytics definitions computed the slow, obvious way over a plain list of events.

Only `message` and `cta_click` events count. An event is in the range [start_date, end_date]
when its local date in `tz` is within it; a timeseries bucket holds the events whose time is in
[bucket start, bucket end). Nothing here shares code with the app.
"""

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

COUNTED = ("message", "cta_click")
TOP_PRECEDING = 3
QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Event:
    event_id: str
    user_id: str
    session_id: str
    event_type: str
    role: str
    message: str
    cta_id: str | None
    at: datetime  # aware, UTC
    shown_as: str = "Z"  # how the timestamp is written: "Z", "naive" or an IANA zone

    def body(self) -> dict[str, Any]:
        """The event as the plugin posts it, with an explicit timestamp."""
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "event_type": self.event_type,
            "role": self.role,
            "message": self.message,
            "timestamp": self.timestamp(),
        }
        if self.cta_id is not None:
            body["cta_id"] = self.cta_id
        return body

    def timestamp(self) -> str:
        if self.shown_as == "naive":  # no offset means UTC
            return self.at.replace(tzinfo=None).isoformat()
        if self.shown_as == "Z":
            return self.at.isoformat().replace("+00:00", "Z")
        return self.at.astimezone(ZoneInfo(self.shown_as)).isoformat()


class Stored:
    """What the database should hold: the first event posted under each event_id, in insertion
    order, minus erased users."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def post(self, events: Iterable[Event]) -> int:
        """Store the events whose event_id is not stored yet; returns how many were new."""
        ids = {event.event_id for event in self.events}
        new = 0
        for event in events:
            if event.event_id not in ids:
                ids.add(event.event_id)
                self.events.append(event)
                new += 1
        return new

    def erase(self, user_id: str) -> int:
        kept = [event for event in self.events if event.user_id != user_id]
        erased = len(self.events) - len(kept)
        self.events = kept
        return erased


def local_date(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant whose local date is `day` (binary search over whole seconds: offsets
    change on whole seconds, and local dates never go backwards in the zones tested)."""
    low = int(datetime.combine(day, time(), UTC).timestamp()) - 2 * 86_400
    high = low + 4 * 86_400
    while high - low > 1:
        middle = (low + high) // 2
        if local_date(datetime.fromtimestamp(middle, UTC), tz) >= day:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def whole_hours(start: datetime, end: datetime, tz: ZoneInfo) -> set[datetime]:
    """Every instant in (start, end) at which the local clock reads a whole hour."""
    samples = (start + timedelta(minutes=15 * n) for n in range((end - start) // QUARTER + 1))
    offsets = {at.astimezone(tz).utcoffset() for at in samples}
    first = (start - timedelta(days=1)).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    hours = (first + timedelta(hours=n) for n in range((end - start) // timedelta(hours=1) + 49))
    found = set()
    for wall in hours:
        for offset in offsets:
            assert offset is not None
            at = (wall - offset).replace(tzinfo=UTC)
            if start < at < end and at.astimezone(tz).replace(tzinfo=None) == wall:
                found.add(at)
    return found


def days(start_date: date, end_date: date) -> list[date]:
    return [start_date + timedelta(n) for n in range((end_date - start_date).days + 1)]


def bucket_edges(start_date: date, end_date: date, tz: ZoneInfo, interval: str) -> list[datetime]:
    """Bucket boundaries: local hours, days or Monday-first weeks, cut to the range."""
    start, end = day_start(start_date, tz), day_start(end_date + timedelta(1), tz)
    edges = {start, end}
    if interval == "hour":
        edges |= whole_hours(start, end, tz)
    else:
        for day in days(start_date, end_date):
            if interval == "day" or day.weekday() == 0:
                edges.add(day_start(day, tz))
    return sorted(edges)


def metrics(events: list[Event]) -> dict[str, Any]:
    counted = [event for event in events if event.event_type in COUNTED]
    messages = [event for event in counted if event.event_type == "message"]
    sessions = {event.session_id for event in counted}
    converted = {event.session_id for event in counted if event.event_type == "cta_click"}
    return {
        "total_messages": len(messages),
        "unique_users": len({event.user_id for event in counted}),
        "cta_clicks": sum(event.event_type == "cta_click" for event in counted),
        "sessions": len(sessions),
        "user_messages": sum(event.role == "user" for event in messages),
        "assistant_messages": sum(event.role == "assistant" for event in messages),
        "converted_sessions": len(converted),
        "conversion_rate": len(converted) / len(sessions) if sessions else 0.0,
        "messages_per_session": len(messages) / len(sessions) if sessions else 0.0,
    }


def in_range(events: list[Event], start_date: date, end_date: date, tz: ZoneInfo) -> list[Event]:
    return [event for event in events if start_date <= local_date(event.at, tz) <= end_date]


def summary(events: list[Event], start_date: date, end_date: date, tz: ZoneInfo) -> dict[str, Any]:
    return metrics(in_range(events, start_date, end_date, tz))


def timeseries(
    events: list[Event], start_date: date, end_date: date, tz: ZoneInfo, interval: str
) -> list[dict[str, Any]]:
    """Each bucket: its start and end instants and the metrics of the events inside it."""
    edges = bucket_edges(start_date, end_date, tz, interval)
    inside: list[list[Event]] = [[] for _ in edges[1:]]
    for event in events:
        index = bisect.bisect_right(edges, event.at) - 1
        if 0 <= index < len(inside):
            inside[index].append(event)
    return [
        {"start": start, "end": end, **metrics(bucket)}
        for start, end, bucket in zip(edges, edges[1:], inside, strict=False)
    ]


def preceding_message(stored: list[Event], click_index: int) -> str | None:
    """The latest assistant message of the click's session before it (ties in time: the one
    stored first counts as earlier)."""
    click = stored[click_index]
    before = [
        (event.at, index, event.message)
        for index, event in enumerate(stored)
        if event.session_id == click.session_id
        and event.event_type == "message"
        and event.role == "assistant"
        and (event.at, index) < (click.at, click_index)
    ]
    return max(before)[2] if before else None


def ctas(
    stored: list[Event], start_date: date, end_date: date, tz: ZoneInfo
) -> dict[str | None, dict[str, Any]]:
    """Per cta_id: clicks, users, sessions, share of all clicks, and a Counter of the assistant
    messages that preceded the clicks."""
    clicks = [
        index
        for index, event in enumerate(stored)
        if event.event_type == "cta_click" and start_date <= local_date(event.at, tz) <= end_date
    ]
    by_cta: dict[str | None, list[int]] = defaultdict(list)
    for index in clicks:
        by_cta[stored[index].cta_id].append(index)
    report = {}
    for cta_id, indexes in by_cta.items():
        preceding = (preceding_message(stored, index) for index in indexes)
        report[cta_id] = {
            "clicks": len(indexes),
            "unique_users": len({stored[index].user_id for index in indexes}),
            "converted_sessions": len({stored[index].session_id for index in indexes}),
            "share_of_clicks": len(indexes) / len(clicks),
            "preceding": Counter(message for message in preceding if message is not None),
        }
    return report


def top_counts(counter: Counter[str]) -> list[int]:
    """The click counts of the most common preceding messages, highest first."""
    return sorted(counter.values(), reverse=True)[:TOP_PRECEDING]
