"""The weekly report's parts without HTTP: which week is reported, how opening questions merge,
REPORT_SCHEDULE read as cron reads it, the settings that reach email headers, the message's
refusal of header injection, and the retry backoff."""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from plugin_analytics.config import SettingsError, load_settings, mailbox
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.reports.build import (
    DOWN,
    FLAT,
    UP,
    Change,
    _change_row,
    last_complete_week,
    top_questions,
)
from plugin_analytics.reports.claims import backoff
from plugin_analytics.reports.cron import _weekday_names, cron_trigger
from plugin_analytics.reports.render import Email, email_message
from plugin_analytics.reports.render import week_label as render_week_label

PARIS = ZoneInfo("Europe/Paris")
AUCKLAND = ZoneInfo("Pacific/Auckland")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
HOUR_US = 3_600_000_000


# --- the reported week ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "start", "end"),
    [
        # Monday 00:30 in Paris: the week that ended half an hour ago.
        (
            datetime(2026, 11, 23, 0, 30, tzinfo=PARIS),
            PARIS,
            date(2026, 11, 16),
            date(2026, 11, 22),
        ),
        # The same instant written in UTC (still Sunday 23:30 there) is read in the zone.
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), PARIS, date(2026, 11, 16), date(2026, 11, 22)),
        # Monday 00:00:00 exactly: the week has just ended.
        (datetime(2026, 11, 23, 0, 0, tzinfo=PARIS), PARIS, date(2026, 11, 16), date(2026, 11, 22)),
        # Sunday 23:59: that week is not over, the one before is reported.
        (
            datetime(2026, 11, 22, 23, 59, 59, tzinfo=PARIS),
            PARIS,
            date(2026, 11, 9),
            date(2026, 11, 15),
        ),
        # Wednesday: the last week that ended.
        (
            datetime(2026, 11, 25, 12, 0, tzinfo=PARIS),
            PARIS,
            date(2026, 11, 16),
            date(2026, 11, 22),
        ),
        # Sunday noon UTC is already Monday 01:00 in Auckland (UTC+13 in summer)...
        (
            datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            AUCKLAND,
            date(2026, 11, 16),
            date(2026, 11, 22),
        ),
        # ...but still Sunday in Paris and in Los Angeles.
        (datetime(2026, 11, 22, 12, 0, tzinfo=UTC), PARIS, date(2026, 11, 9), date(2026, 11, 15)),
        # Monday 05:00 UTC is Sunday 21:00 in Los Angeles.
        (
            datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
            LOS_ANGELES,
            date(2026, 11, 9),
            date(2026, 11, 15),
        ),
        # Across the new year.
        (datetime(2027, 1, 4, 8, 0, tzinfo=PARIS), PARIS, date(2026, 12, 28), date(2027, 1, 3)),
    ],
)
def test_last_complete_week(now: datetime, tz: ZoneInfo, start: date, end: date) -> None:
    week = last_complete_week(now, tz, DEFAULT_SITE_NUM)
    assert (week.start_date, week.end_date, week.tz) == (start, end, tz)
    assert week.start_date.weekday() == 0
    assert len(week.days()) == 7
    # The week is whole local days: Monday 00:00 to the next Monday 00:00 in the zone.
    assert from_epoch_us(week.start_us).astimezone(tz) == datetime.combine(
        start, datetime.min.time(), tz
    )
    assert from_epoch_us(week.end_us).astimezone(tz) == datetime.combine(
        end + timedelta(days=1), datetime.min.time(), tz
    )
    assert week.end_us <= int((now - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)


@pytest.mark.parametrize(
    ("now", "start", "hours"),
    [
        # Clocks go forward on Sunday 29 March 2026: the week has 167 hours.
        (datetime(2026, 3, 30, 8, 0, tzinfo=PARIS), date(2026, 3, 23), 167),
        # Clocks go back on Sunday 25 October 2026: 169 hours.
        (datetime(2026, 10, 26, 0, 30, tzinfo=PARIS), date(2026, 10, 19), 169),
        # Monday 00:30 after that change is 23:30 UTC the day before.
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), date(2026, 10, 19), 169),
        # The week after each change is an ordinary one.
        (datetime(2026, 4, 6, 8, 0, tzinfo=PARIS), date(2026, 3, 30), 168),
        (datetime(2026, 11, 2, 8, 0, tzinfo=PARIS), date(2026, 10, 26), 168),
    ],
)
def test_week_with_a_clock_change_in_paris(now: datetime, start: date, hours: int) -> None:
    week = last_complete_week(now, PARIS, DEFAULT_SITE_NUM)
    assert (week.start_date, week.end_date) == (start, start + timedelta(days=6))
    assert (week.end_us - week.start_us) / HOUR_US == hours


def test_week_with_a_clock_change_in_auckland() -> None:
    # New Zealand's summer time starts on Sunday 27 September 2026 (02:00 -> 03:00).
    week = last_complete_week(
        datetime(2026, 9, 28, 9, 0, tzinfo=AUCKLAND), AUCKLAND, DEFAULT_SITE_NUM
    )
    assert (week.start_date, week.end_date) == (date(2026, 9, 21), date(2026, 9, 27))
    assert (week.end_us - week.start_us) / HOUR_US == 167


# --- opening questions ---------------------------------------------------------------------


def test_questions_differing_in_case_spacing_or_closing_punctuation_are_one() -> None:
    messages = [
        "do you ship to norway",
        "Do you ship to Norway?",
        " Do  you ship\tto Norway? ",  # the same spelling once spaces are normalised
        "DO YOU SHIP TO NORWAY!!",
        "Do you ship to Norway ?",
        "Do you ship to Norway...",
        "Do you ship to Norway?",
        "Can I pay by card?",
        "can i pay by card",
    ]
    assert top_questions(messages) == [("Do you ship to Norway?", 7), ("Can I pay by card?", 2)]


def test_punctuation_inside_a_question_is_kept() -> None:
    assert top_questions(["Do you ship? To Norway?", "Do you ship to Norway?"]) == [
        ("Do you ship to Norway?", 1),  # ties go by the text: " " sorts before "?"
        ("Do you ship? To Norway?", 1),
    ]


def full_width(text: str) -> str:
    """ASCII letters and punctuation as their full-width forms (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def test_full_width_forms_merge_through_nfkc() -> None:
    question = "\u914d\u9001\u3057\u307e\u3059\u304b"  # "do you deliver" in Japanese
    messages = [
        question + "\uff1f",  # full-width question mark
        question + "?",
        question + "\u3002",  # ideographic full stop
        question + "\uff1f",
        full_width("do you ship?"),
        "do you ship",
    ]
    assert top_questions(messages) == [
        (question + "\uff1f", 4),
        ("do you ship", 2),  # two spellings once each: the first by the text is shown
    ]


def test_most_frequent_spelling_is_shown() -> None:
    messages = [
        "WHERE IS MY ORDER",
        "where is my order?",
        "Where is my order?",
        "Where is my order?",
    ]
    assert top_questions(messages) == [("Where is my order?", 4)]


def test_empty_and_punctuation_only_messages_are_skipped() -> None:
    assert top_questions(["", "   ", "?", "!!!", "...", "\n\t", "Hi"]) == [("Hi", 1)]
    assert top_questions([]) == []


def test_long_questions_are_shortened_to_200_characters() -> None:
    long = "Could you tell me " + "x" * 300
    exactly = "y" * 200
    [(shown, count), (kept, _)] = top_questions([long, long, exactly])
    assert count == 2
    assert len(shown) == 200
    assert shown == long[:199] + "…"
    assert kept == exactly  # 200 characters fit


def test_only_the_five_most_frequent_questions() -> None:
    messages = [f"Question {n}?" for n in range(1, 8) for _ in range(n)]  # n asked n times
    assert top_questions(messages) == [
        ("Question 7?", 7),
        ("Question 6?", 6),
        ("Question 5?", 5),
        ("Question 4?", 4),
        ("Question 3?", 3),
    ]


# --- REPORT_SCHEDULE -----------------------------------------------------------------------


def fires(expression: str, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    trigger = cron_trigger(expression, tz)
    found: list[datetime] = []
    now = after
    for _ in range(count):
        fire = trigger.get_next_fire_time(None, now)
        assert fire is not None
        found.append(fire)
        now = fire + timedelta(seconds=1)
    return found


WEDNESDAY_NOON = datetime(2026, 11, 18, 12, 0, tzinfo=PARIS)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Cron numbers days from Sunday = 0: 1 is Monday (APScheduler alone would say Tuesday).
        ("0 8 * * 1", [paris(2026, 11, 23, 8, 0), paris(2026, 11, 30, 8, 0)]),
        ("0 8 * * mon", [paris(2026, 11, 23, 8, 0), paris(2026, 11, 30, 8, 0)]),
        ("0 8 * * MON", [paris(2026, 11, 23, 8, 0), paris(2026, 11, 30, 8, 0)]),
        # 0 and 7 are both Sunday.
        ("0 8 * * 0", [paris(2026, 11, 22, 8, 0), paris(2026, 11, 29, 8, 0)]),
        ("0 8 * * 7", [paris(2026, 11, 22, 8, 0), paris(2026, 11, 29, 8, 0)]),
        ("0 8 * * sun", [paris(2026, 11, 22, 8, 0), paris(2026, 11, 29, 8, 0)]),
        # Ranges, lists, steps.
        (
            "30 18 * * 1-5",
            [paris(2026, 11, 18, 18, 30), paris(2026, 11, 19, 18, 30), paris(2026, 11, 20, 18, 30),
             paris(2026, 11, 23, 18, 30)],
        ),
        ("0 9 * * 5-7", [paris(2026, 11, 20, 9), paris(2026, 11, 21, 9), paris(2026, 11, 22, 9),
                         paris(2026, 11, 27, 9)]),
        ("0 9 * * 6,0", [paris(2026, 11, 21, 9), paris(2026, 11, 22, 9), paris(2026, 11, 28, 9)]),
        ("0 9 * * sat,sun", [paris(2026, 11, 21, 9), paris(2026, 11, 22, 9),
                             paris(2026, 11, 28, 9)]),
        ("0 9 * * */3", [paris(2026, 11, 21, 9), paris(2026, 11, 22, 9), paris(2026, 11, 25, 9)]),
        ("0 9 * * 1-5/2", [paris(2026, 11, 20, 9), paris(2026, 11, 23, 9), paris(2026, 11, 25, 9)]),
        ("0 9 * * sun-tue", [paris(2026, 11, 22, 9), paris(2026, 11, 23, 9), paris(2026, 11, 24, 9),
                             paris(2026, 11, 29, 9)]),
        # Other fields pass through.
        ("15 7 1 * *", [paris(2026, 12, 1, 7, 15), paris(2027, 1, 1, 7, 15)]),
        ("*/20 12 * * 3", [paris(2026, 11, 18, 12, 0), paris(2026, 11, 18, 12, 20),
                           paris(2026, 11, 18, 12, 40), paris(2026, 11, 25, 12, 0)]),
    ],
)  # fmt: skip
def test_cron_fire_times(expression: str, expected: list[datetime]) -> None:
    assert fires(expression, PARIS, WEDNESDAY_NOON, len(expected)) == expected


def test_schedule_fires_in_its_zone() -> None:
    after = datetime(2026, 11, 18, 0, 0, tzinfo=UTC)
    [in_auckland] = fires("0 8 * * 1", AUCKLAND, after, 1)
    assert in_auckland == datetime(2026, 11, 23, 8, 0, tzinfo=AUCKLAND)
    assert in_auckland.astimezone(UTC) == datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
    [in_paris] = fires("0 8 * * 1", PARIS, after, 1)
    assert in_paris.astimezone(UTC) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    # Across the autumn clock change: 08:00 local, 06:00 then 07:00 UTC.
    autumn = fires("0 8 * * 1", PARIS, paris(2026, 10, 13, 0, 0), 2)
    assert autumn == [paris(2026, 10, 19, 8, 0), paris(2026, 10, 26, 8, 0)]
    assert [fire.astimezone(UTC).hour for fire in autumn] == [6, 7]


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1", "mon"),
        ("6", "sat"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("sun-tue", "sun,mon,tue"),
        ("5-7", "fri,sat,sun"),
        ("0-7", "sun,mon,tue,wed,thu,fri,sat"),
        ("0,6", "sun,sat"),
        ("1,3,5", "mon,wed,fri"),
        ("*", "*"),
        ("*/2", "sun,tue,thu,sat"),
        ("1-5/2", "mon,wed,fri"),
        ("0-6/3", "sun,wed,sat"),
        ("MON,Fri", "mon,fri"),
    ],
)
def test_weekday_names(field: str, names: str) -> None:
    assert _weekday_names(field) == names


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 8 * * 8", "day of week '8' is not 0-7 or a day name"),
        ("0 8 * * funday", "day of week 'funday' is not 0-7 or a day name"),
        ("0 8 * * -1", "is not 0-7 or a day name"),
        ("0 8 * * 5-1", "day-of-week range '5-1' runs backwards"),
        ("0 8 * * sat-sun", "runs backwards"),
        ("0 8 * * 1/0", "bad step in day of week '1/0'"),
        ("0 8 * * */x", "bad step in day of week '*/x'"),
        ("0 8 * * 1,,2", "is not 0-7 or a day name"),
        ("0 8 * *", "expected 5 fields (minute hour day month weekday), got 4"),
        ("0 8 * * 1 2026", "expected 5 fields (minute hour day month weekday), got 6"),
        ("", "expected 5 fields"),
        ("60 8 * * 1", "60"),
        ("0 24 * * 1", "24"),
        ("0 8 32 * *", "32"),
        ("0 8 * 13 *", "13"),
    ],
)
def test_bad_schedules_raise_value_error(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        cron_trigger(expression, PARIS)


def test_day_of_month_and_day_of_week_together_are_refused() -> None:
    # cron fires on "the 1st OR a Monday", APScheduler only on "the 1st AND a Monday": such a
    # line is refused rather than run differently from what it says.
    with pytest.raises(ValueError, match="not both"):
        cron_trigger("0 8 1 * 1", PARIS)
    with pytest.raises(SettingsError, match="  REPORT_SCHEDULE: "):
        load_settings(_env_file=None, report_schedule="0 8 1 * mon")


# --- settings that reach email headers -----------------------------------------------------


def settings(**values: Any) -> Any:
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("report_recipients", "a@example.com\r\nBcc: evil@example.com"),
        ("report_recipients", "a@example.com\nBcc: evil@example.com"),
        ("report_recipients", "owner@example.com, a@example.com\rBcc: evil@example.com"),
        ("report_recipients", "not-an-address"),
        ("report_recipients", "owner@example.com, @example.com"),
        ("report_recipients", "owner@"),
        ("report_recipients", "a@b@example.com"),
        ("email_from", "reports@example.com\r\nBcc: evil@example.com"),
        ("email_from", "Reports\r\nBcc: evil@example.com <reports@example.com>"),
        ("email_from", "reports@example.com\x00"),
        ("email_from", "reports"),
        ("site_name", "Acme\nShop"),
        ("site_name", "Acme Shop\r\nBcc: evil@example.com"),
        ("site_name", "Acme\x00Shop"),
        ("report_schedule", "0 8 * * 8"),
        ("report_schedule", "0 8 * *"),
        ("report_timezone", "America"),  # a directory of tzdata: IsADirectoryError inside
        ("report_timezone", "Europe"),
        ("report_timezone", "Mars/Olympus_Mons"),
        ("report_timezone", "../../etc/passwd"),
        ("report_timezone", ""),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings(**{variable: value})
    message = str(raised.value)
    assert message.startswith("Invalid configuration:\n")
    assert f"  {variable.upper()}: " in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REPORT_RECIPIENTS", "a@example.com\r\nBcc: evil@example.com"),
        ("EMAIL_FROM", "reports@example.com\nBcc: evil@example.com"),
        ("SITE_NAME", "Acme\nShop"),
        ("REPORT_SCHEDULE", "0 8 * * 8"),
        ("REPORT_TIMEZONE", "America"),
    ],
)
def test_bad_settings_from_the_environment_are_refused(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"  {variable}: "):
        load_settings(_env_file=None)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        settings(site_name="a\nb", report_timezone="America", email_from="x\r\ny@example.com")
    message = str(raised.value)
    for variable in ("SITE_NAME", "REPORT_TIMEZONE", "EMAIL_FROM"):
        assert f"  {variable}: " in message


def test_good_addresses_are_accepted_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORT_RECIPIENTS", "Owner <owner@example.com>, team@EXAMPLE.com ,,")
    monkeypatch.setenv("EMAIL_FROM", "Reports <reports@example.com>")
    monkeypatch.setenv("SITE_NAME", "  Acme Shop  ")
    monkeypatch.setenv("REPORT_TIMEZONE", "Pacific/Auckland")
    monkeypatch.setenv("REPORT_SCHEDULE", "0 8 * * 1")
    loaded = load_settings(_env_file=None)
    assert loaded.report_recipients == ["Owner <owner@example.com>", "team@example.com"]
    assert loaded.email_from == "Reports <reports@example.com>"
    assert loaded.site_name == "Acme Shop"
    assert (loaded.report_timezone, loaded.report_schedule) == ("Pacific/Auckland", "0 8 * * 1")
    assert settings(email_from="  ").email_from is None
    assert settings(report_recipients=["Zoë <zoe@example.com>"]).report_recipients == [
        "Zoë <zoe@example.com>"
    ]


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("owner@example.com", "owner@example.com"),
        ("  owner@example.com  ", "owner@example.com"),
        ("<owner@example.com>", "owner@example.com"),
        ("Owner <owner@example.com>", "Owner <owner@example.com>"),
        ('"Doe, Jane" <jane@example.com>', '"Doe, Jane" <jane@example.com>'),
        ("Owner@EXAMPLE.COM", "Owner@example.com"),
    ],
)
def test_mailbox_accepts(text: str, normalised: str) -> None:
    assert mailbox(text) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "a@example.com\r\nBcc: evil@example.com",
        "Owner\n <owner@example.com>",
        "owner@example.com\x00",
        "",
        "owner",
        "owner@localhost",  # no dot in the domain
        "Owner <>",
    ],
)
def test_mailbox_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"line breaks are not allowed|is not an email address"):
        mailbox(text)


def test_site_name_with_a_unicode_line_separator_is_refused() -> None:
    with pytest.raises(SettingsError, match="  SITE_NAME: "):
        settings(site_name="Acme\u2028Shop")


# --- the message ---------------------------------------------------------------------------

EMAIL = Email(
    subject="Acme Shop: weekly chat report, 16\u201322 Nov 2026",
    html='<p><img src="cid:daily-chart"></p>',
    text="Acme Shop: weekly chat report\n",
    chart_png=b"\x89PNG\r\n\x1a\n",
    csv="start,end\r\n",
    csv_name="daily_2026-11-16_to_2026-11-22.csv",
)


def test_email_message_is_addressed_as_given() -> None:
    message = email_message(
        EMAIL,
        sender="Reports <reports@example.com>",
        recipients=["a@example.com", "B <b@example.com>"],
    )
    assert message["From"] == "Reports <reports@example.com>"
    assert message["To"] == "a@example.com, B <b@example.com>"
    assert message["Subject"] == EMAIL.subject
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_all("Bcc") is None


def test_email_message_refuses_a_line_break_in_the_subject() -> None:
    bad = Email(**{**EMAIL.__dict__, "subject": "Acme\r\nBcc: evil@example.com"})
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        email_message(bad, sender="reports@example.com", recipients=["a@example.com"])


@pytest.mark.parametrize(
    ("sender", "recipients"),
    [
        ("reports@example.com\r\nBcc: evil@example.com", ["a@example.com"]),
        ("reports@example.com", ["a@example.com\r\nBcc: evil@example.com"]),
        ("reports@example.com", ["a@example.com\nBcc: evil@example.com"]),
    ],
)
def test_email_message_never_writes_an_injected_header(sender: str, recipients: list[str]) -> None:
    """Addresses that skipped validation: whatever happens, no Bcc header is made."""
    try:
        message = email_message(EMAIL, sender=sender, recipients=recipients)
    except ValueError:
        return  # refused: the best outcome
    assert message.get_all("Bcc") is None
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    headers = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers
    assert b"evil@example.com" not in headers


@pytest.mark.parametrize(
    ("sender", "recipients"),
    [
        ("reports@example.com", ["Team\nBcc: evil@example.com <team@example.com>"]),
        ("Reports\r\nBcc: evil@example.com <reports@example.com>", ["a@example.com"]),
        ("reports@example.com\r\nBcc: evil@example.com", ["a@example.com"]),
    ],
)
def test_email_message_refuses_a_line_break_in_an_address(
    sender: str, recipients: list[str]
) -> None:
    with pytest.raises(ValueError, match="line breaks are not allowed in an address"):
        email_message(EMAIL, sender=sender, recipients=recipients)


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (date(2026, 11, 16), date(2026, 11, 22), "16\u201322 Nov 2026"),
        (date(2026, 11, 30), date(2026, 12, 6), "30 Nov \u2013 6 Dec 2026"),
        (date(2026, 12, 28), date(2027, 1, 3), "28 Dec 2026 \u2013 3 Jan 2027"),
    ],
)
def test_week_label(start: date, end: date, label: str) -> None:
    assert render_week_label(start, end) == label


@pytest.mark.parametrize(
    ("change", "value", "text", "color"),
    [
        (Change("total_messages", 1234, 1000), "1,234", "+23%", UP),
        (Change("sessions", 3, 4), "3", "-25%", DOWN),
        (Change("cta_clicks", 5, 0), "5", "new", UP),
        (Change("cta_clicks", 0, 0), "0", "no change", FLAT),
        (Change("unique_users", 7, 7), "7", "+0%", FLAT),
        (Change("conversion_rate", 0.25, 0.5), "25.0%", "-25.0 pts", DOWN),
        (Change("conversion_rate", 4 / 7, 0.5), "57.1%", "+7.1 pts", UP),
    ],
)
def test_change_rows(change: Change, value: str, text: str, color: str) -> None:
    row = _change_row(change)
    assert (row["value"], row["change"], row["color"]) == (value, text, color)


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 60), (8, 60), (30, 60)],
)
def test_backoff_doubles_from_a_minute_to_an_hour(attempts: int, minutes: int) -> None:
    assert backoff(attempts) == timedelta(minutes=minutes)


@pytest.mark.parametrize("attempts", [42, 1000])
def test_backoff_stays_an_hour_after_many_failures(attempts: int) -> None:
    assert backoff(attempts) == timedelta(hours=1)


def test_addresses_are_ascii_for_smtp() -> None:
    # An internationalised domain is sent as punycode; a non-ASCII local part needs SMTPUTF8,
    # which most servers and the email package's headers lack: refused at start-up.
    assert mailbox("reports@bücher.de") == "reports@xn--bcher-kva.de"
    with pytest.raises(ValueError, match="Internationalized characters before the @-sign"):
        mailbox("zoë@example.com")
    with pytest.raises(SettingsError, match="  REPORT_RECIPIENTS: "):
        load_settings(_env_file=None, report_recipients="zoë@example.com")
