"""Date ranges in a time zone, their buckets, and how a span of time splits into rollup periods."""

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from plugin_analytics.db.types import from_epoch_us, to_epoch_us
from plugin_analytics.derived.periods import GRAINS, QUARTER_US, period_start
from plugin_analytics.errors import BadRequest

Interval = Literal["hour", "day", "week"]
MAX_RANGE_DAYS = 3 * 365 + 1  # three years, one of them a leap year
MAX_HOURLY_DAYS = 92
DEFAULT_DAYS = 7
# Days a report may name: a margin from the ends of Python's calendar, so that a week's start,
# a default range or a zone's offset never leaves it.
FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)


@dataclass(frozen=True)
class DateRange:
    """Whole local days, `start_date` to `end_date` inclusive, in `tz`, of the site numbered
    `site_num` (site.num): every read is of one site."""

    start_date: date
    end_date: date
    tz: ZoneInfo
    site_num: int

    @property
    def start_us(self) -> int:
        return local_midnight_us(self.start_date, self.tz)

    @property
    def end_us(self) -> int:
        """Exclusive: the first instant of the day after `end_date`."""
        return local_midnight_us(self.end_date + timedelta(days=1), self.tz)

    def days(self) -> list[date]:
        count = (self.end_date - self.start_date).days + 1
        return [self.start_date + timedelta(days=n) for n in range(count)]


def local_midnight_us(day: date, tz: ZoneInfo) -> int:
    """The first instant of `day` in `tz`. Where midnight does not exist (a DST gap at 00:00),
    fold=0 resolves it to the instant of the transition, which is when that day begins."""
    return to_epoch_us(datetime(day.year, day.month, day.day, tzinfo=tz))


def date_range(
    start_date: date | None, end_date: date | None, tz_name: str, site_num: int
) -> DateRange:
    """Validate the query's range; default: the last 7 days ending today in `tz`."""
    tz = time_zone(tz_name)
    check_dates(start_date, end_date)  # the defaults below can neither invert nor leave it
    today = datetime.now(tz).date()
    end = end_date or (today if start_date is None else start_date + timedelta(DEFAULT_DAYS - 1))
    start = start_date or end - timedelta(days=DEFAULT_DAYS - 1)
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest("the range is longer than 3 years; ask for a shorter one")
    return DateRange(start, end, tz, site_num)


def check_dates(start_date: date | None, end_date: date | None) -> None:
    """400 for a day outside FIRST_DAY..LAST_DAY, or an end before the start."""
    for day in (start_date, end_date):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise BadRequest(f"dates must be between {FIRST_DAY} and {LAST_DAY}, not {day}")
    if start_date and end_date and end_date < start_date:
        raise BadRequest(f"end_date {end_date} is before start_date {start_date}")


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # ZoneInfoNotFoundError is a KeyError; a directory of the tzdata package ("America") is
    # an IsADirectoryError, an OSError.
    except (KeyError, ValueError, OSError):
        raise BadRequest(
            f"unknown time zone {name!r}; use an IANA name like Europe/Paris"
        ) from None


@dataclass(frozen=True)
class Bucket:
    start_us: int
    end_us: int
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return from_epoch_us(self.start_us).astimezone(self.tz)

    @property
    def end(self) -> datetime:
        return from_epoch_us(self.end_us).astimezone(self.tz)


def buckets(span: DateRange, interval: Interval) -> list[Bucket]:
    """Consecutive local hours, days or ISO weeks (Monday first) covering the range; the first
    and last week are cut to the range."""
    if interval == "hour" and len(span.days()) > MAX_HOURLY_DAYS:
        raise BadRequest(f"interval=hour covers at most {MAX_HOURLY_DAYS} days; use day or week")
    bounds = {span.start_us, span.end_us}
    for day in span.days():
        if interval == "day" or (interval == "week" and day.weekday() == 0):
            bounds.add(local_midnight_us(day, span.tz))
        elif interval == "hour":
            bounds.update(_local_hour_starts(day, span.tz))
    edges = sorted(b for b in bounds if span.start_us <= b <= span.end_us)
    return [Bucket(a, b, span.tz) for a, b in itertools.pairwise(edges)]


def _local_hour_starts(day: date, tz: ZoneInfo) -> set[int]:
    """Each instant on `day` where the local clock shows a whole hour (a repeated hour at the
    end of DST counts twice, a skipped one not at all)."""
    starts = set()
    for hour in range(24):
        for fold in (0, 1):
            local = datetime(day.year, day.month, day.day, hour, tzinfo=tz, fold=fold)
            instant = to_epoch_us(local)
            if from_epoch_us(instant).astimezone(tz).replace(tzinfo=None) == local.replace(
                tzinfo=None
            ):
                starts.add(instant)
    return starts


@dataclass
class Pieces:
    """A span of time as whole rollup periods plus the raw stretches no period covers."""

    periods: list[tuple[str, int]]
    raw: list[tuple[int, int]]


def decompose(start_us: int, end_us: int) -> Pieces:
    """Cover [start_us, end_us) with the fewest rollup periods: days in the middle, then hours,
    then quarter hours at the ends, and raw events for any part finer than a quarter hour
    (only offsets that are not a multiple of 15 minutes, such as historical local mean time)."""
    pieces = Pieces([], [])
    inner_start, inner_end = _ceil(start_us, QUARTER_US), period_start(end_us, QUARTER_US)
    if inner_start >= inner_end:
        pieces.raw.append((start_us, end_us))
        return pieces
    if start_us < inner_start:
        pieces.raw.append((start_us, inner_start))
    if inner_end < end_us:
        pieces.raw.append((inner_end, end_us))
    _cover(pieces.periods, inner_start, inner_end, ["day", "hour", "quarter"])
    return pieces


def _cover(periods: list[tuple[str, int]], start: int, end: int, grains: list[str]) -> None:
    """Cover the quarter-aligned [start, end) with the coarsest grains that fit."""
    if start >= end:
        return
    grain, size = grains[0], GRAINS[grains[0]]
    first, last = _ceil(start, size), period_start(end, size)
    if first >= last:
        _cover(periods, start, end, grains[1:])
        return
    if start < first:
        _cover(periods, start, first, grains[1:])
    periods.extend((grain, at) for at in range(first, last, size))
    if last < end:
        _cover(periods, last, end, grains[1:])


def _ceil(at: int, size: int) -> int:
    return -(-at // size) * size
