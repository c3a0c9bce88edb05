"""REPORT_SCHEDULE: a standard five-field crontab line, read as cron reads it.

APScheduler 3 numbers the days of the week from Monday = 0, where cron has Sunday = 0 (and 7), so
`0 8 * * 1` would fire on Tuesdays. Numbers in the day-of-week field are turned into day names
first (and so are name ranges, `sun-tue` being 0-2 in cron); the other fields pass through."""

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # cron: 0 and 7 are Sunday


def cron_trigger(expression: str, timezone: tzinfo | str) -> CronTrigger:
    """The trigger for a crontab line in `timezone`; ValueError names what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # cron fires when either matches, APScheduler only when both do: refuse, not guess.
        raise ValueError("restrict the day of the month or the day of the week, not both")
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=timezone,
    )


def _weekday_names(field: str) -> str:
    return ",".join(_weekday_part(part) for part in field.lower().split(","))


def _weekday_part(part: str) -> str:
    """One comma-separated part: `1`, `1-5`, `*/2`, `0-6/3` become lists of names."""
    span, _, step_text = part.partition("/")
    if span == "*":
        if not step_text:
            return part
        span = "0-6"
    first, dash, last = span.partition("-")
    if dash and not last:
        raise ValueError(f"day-of-week range {part!r} has no end")
    start, end = _day_number(first), _day_number(last or first)
    if step_text and not last:
        end = 6  # cron: `n/step` runs from n to the end of the range
    step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
    if "/" in part and step is None:
        raise ValueError(f"bad step in day of week {part!r}")
    if start > end:
        raise ValueError(f"day-of-week range {part!r} runs backwards")
    days = range(start, end + 1, step or 1)
    return ",".join(dict.fromkeys(CRON_DAYS[day] for day in days))


def _day_number(text: str) -> int:
    if text in CRON_DAYS:
        return CRON_DAYS.index(text)
    if not text.isdigit() or int(text) > 7:
        raise ValueError(f"day of week {text!r} is not 0-7 or a day name")
    return int(text)
