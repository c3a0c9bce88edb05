"""The claim protocol that sends each week once, on both databases: one winner among concurrent
claimers, sent weeks stay sent (unless forced), a crashed sender's lease expires, and a failed
send waits out its backoff before the schedule retries it."""

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from plugin_analytics.config import Settings, load_settings
from plugin_analytics.db.models import DEFAULT_SITE_NUM, report_attempt_table, report_table
from plugin_analytics.reports.claims import (
    FIRST_RETRY,
    LEASE,
    Claim,
    Taken,
    Trigger,
    claim_week,
    finish,
    week_status,
)
from plugin_analytics.reports.service import lease_for

WEEK = date(2026, 3, 2)  # a Monday
RECIPIENTS = ["owner@example.com"]
CLAIMERS = 8


def _now() -> datetime:
    return datetime.now(UTC)


def _claim(
    engine: Engine,
    now: datetime,
    *,
    trigger: Trigger = "manual",
    force: bool = False,
    week: date = WEEK,
) -> Claim | Taken:
    return claim_week(
        engine, DEFAULT_SITE_NUM, week, now=now, trigger=trigger, recipients=RECIPIENTS, force=force
    )


def _granted(result: Claim | Taken) -> Claim:
    assert isinstance(result, Claim), result
    return result


def _report(engine: Engine, week: date = WEEK) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(select(report_table).where(report_table.c.week_start == week))
        return dict(row.one()._mapping)


def _attempts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(report_attempt_table).order_by(report_attempt_table.c.id))
        return [dict(row._mapping) for row in rows]


def _set_report(engine: Engine, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(report_table).where(report_table.c.week_start == WEEK).values(**values)
        )


def _all_at_once(count: int, action: Callable[[], Claim | Taken]) -> list[Claim | Taken]:
    """Run `action` in `count` threads released together; every result, or the first error."""
    barrier = threading.Barrier(count)
    results: list[Claim | Taken] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            result = action()
        except BaseException as exc:  # reported to the test below
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a claimer hung"
    if errors:
        raise errors[0]
    assert len(results) == count
    return results


def test_concurrent_claimers_one_wins(engine: Engine) -> None:
    now = _now()
    results = _all_at_once(CLAIMERS, lambda: _claim(engine, now, trigger="schedule"))

    claims = [result for result in results if isinstance(result, Claim)]
    assert len(claims) == 1, results
    assert [result for result in results if not isinstance(result, Claim)] == [Taken("sending")] * (
        CLAIMERS - 1
    )
    row = _report(engine)
    assert row["status"] == "sending"
    assert row["claim_token"] == claims[0].token
    assert row["attempts"] == 1
    assert row["lease_until"] == now + LEASE
    assert [attempt["id"] for attempt in _attempts(engine)] == [claims[0].attempt_id]
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sending")


def test_a_week_is_not_claimed_before_anyone_tried(engine: Engine) -> None:
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) is None
    claim = _granted(_claim(engine, _now()))
    assert claim.week_start == WEEK
    # Another week is independent of this one.
    _granted(_claim(engine, _now(), week=WEEK + timedelta(days=7)))
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK + timedelta(days=14)) is None


def test_a_sent_week_stays_sent_unless_forced(engine: Engine) -> None:
    first = _granted(_claim(engine, _now(), trigger="schedule"))
    sent_at = _now()
    finish(engine, first, now=sent_at)

    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sent")
    row = _report(engine)
    assert (row["status"], row["sent_at"], row["next_attempt_at"]) == ("sent", sent_at, None)
    for trigger in ("manual", "schedule", "cli"):
        assert _claim(engine, _now(), trigger=trigger) == Taken("sent")
    # Even once the first sender's lease is long over.
    assert _claim(engine, _now() + 2 * LEASE) == Taken("sent")

    forced = _granted(_claim(engine, _now(), force=True))
    assert forced.token != first.token
    assert _report(engine)["status"] == "sending"
    assert _claim(engine, _now(), force=True) == Taken("sending"), "forced over a live lease"
    finish(engine, forced, now=_now())
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sent")
    assert _report(engine)["attempts"] == 2

    history = [(a["status"], a["forced"], a["trigger"]) for a in _attempts(engine)]
    assert history == [("sent", False, "schedule"), ("sent", True, "manual")]


def test_concurrent_forced_claims_one_wins(engine: Engine) -> None:
    finish(engine, _granted(_claim(engine, _now())), now=_now())

    now = _now()
    results = _all_at_once(CLAIMERS, lambda: _claim(engine, now, force=True))

    claims = [result for result in results if isinstance(result, Claim)]
    assert len(claims) == 1, results
    assert [result for result in results if not isinstance(result, Claim)] == [Taken("sending")] * (
        CLAIMERS - 1
    )
    assert _report(engine)["claim_token"] == claims[0].token
    assert [a["forced"] for a in _attempts(engine)] == [False, True]


def test_a_crashed_senders_lease_expires(engine: Engine) -> None:
    started = _now()
    crashed = _granted(_claim(engine, started, trigger="schedule"))
    # Its lease holds, for the schedule, for a person asking and for a forced send alike.
    later = started + LEASE - timedelta(seconds=1)
    assert _claim(engine, later, trigger="schedule") == Taken("sending")
    assert _claim(engine, later, trigger="manual") == Taken("sending")
    assert _claim(engine, later, force=True) == Taken("sending")

    _set_report(engine, lease_until=_now() - timedelta(seconds=1))
    now = _now()
    taker = _granted(_claim(engine, now, trigger="schedule"))
    assert taker.token != crashed.token
    assert _report(engine)["lease_until"] == now + LEASE
    assert _report(engine)["attempts"] == 2
    # Its history entry no longer says it is sending: the taker closed it.
    abandoned, current = _attempts(engine)
    assert (abandoned["id"], abandoned["status"]) == (crashed.attempt_id, "failed")
    assert abandoned["error"] == "the sender stopped before it finished (its claim expired)"
    assert abandoned["finished_at"] == now
    assert (current["id"], current["status"]) == (taker.attempt_id, "sending")

    # The crashed sender comes back to life: its outcome must not settle the taker's week.
    finish(engine, crashed, now=_now())
    row = _report(engine)
    assert (row["status"], row["claim_token"], row["sent_at"]) == ("sending", taker.token, None)
    finish(engine, crashed, now=_now(), error="late failure")
    row = _report(engine)
    assert (row["status"], row["claim_token"], row["next_attempt_at"]) == (
        "sending",
        taker.token,
        None,
    )
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sending")
    assert _claim(engine, _now(), trigger="manual") == Taken("sending")

    finish(engine, taker, now=_now())
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sent")
    assert _report(engine)["claim_token"] == taker.token


def test_a_failed_send_backs_off_for_the_schedule_only(engine: Engine) -> None:
    first = _granted(_claim(engine, _now(), trigger="schedule"))
    failed_at = _now()
    finish(engine, first, now=failed_at, error="x")

    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("backoff", "x")
    row = _report(engine)
    assert row["status"] == "failed"
    assert row["next_attempt_at"] == failed_at + FIRST_RETRY == failed_at + timedelta(minutes=1)
    assert row["attempts"] == 1
    assert row["sent_at"] is None

    # The schedule waits for next_attempt_at ...
    assert _claim(engine, _now(), trigger="schedule") == Taken("backoff", "x")
    assert _claim(engine, failed_at + timedelta(seconds=59), trigger="schedule") == Taken(
        "backoff", "x"
    )
    _set_report(engine, next_attempt_at=_now() - timedelta(seconds=1))
    second = _granted(_claim(engine, _now(), trigger="schedule"))
    assert _report(engine)["attempts"] == 2
    failed_again = _now()
    finish(engine, second, now=failed_again, error="y")
    row = _report(engine)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["next_attempt_at"] == failed_again + timedelta(minutes=2)  # doubling
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("backoff", "y")
    assert _claim(engine, _now(), trigger="schedule") == Taken("backoff", "y")

    # ... a person asking does not.
    third = _granted(_claim(engine, _now(), trigger="manual"))
    assert _report(engine)["attempts"] == 3
    assert _claim(engine, _now(), trigger="manual") == Taken("sending")
    finish(engine, third, now=_now(), error="z")
    fourth = _granted(_claim(engine, _now(), trigger="cli"))
    sent_at = _now()
    finish(engine, fourth, now=sent_at, note="refused by the server: team@example.com")
    row = _report(engine)
    assert (row["status"], row["attempts"], row["sent_at"], row["next_attempt_at"]) == (
        "sent",
        4,
        sent_at,
        None,
    )
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sent")
    fifth = _granted(_claim(engine, _now(), trigger="manual", force=True))
    finish(engine, fifth, now=_now(), error="w")
    assert _report(engine)["attempts"] == 5
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken(
        "sent"
    )  # a failed resend: still sent
    _check_every_attempt_recorded(engine)


def _check_every_attempt_recorded(engine: Engine) -> None:
    """The five attempts of the test above, each with its trigger, outcome and times."""
    history = [
        (a["week_start"], a["trigger"], a["forced"], a["status"], a["error"])
        for a in _attempts(engine)
    ]
    assert history == [
        (WEEK, "schedule", False, "failed", "x"),
        (WEEK, "schedule", False, "failed", "y"),
        (WEEK, "manual", False, "failed", "z"),
        (WEEK, "cli", False, "sent", "refused by the server: team@example.com"),
        (WEEK, "manual", True, "failed", "w"),
    ]
    for attempt in _attempts(engine):
        assert attempt["recipients"] == RECIPIENTS
        assert attempt["finished_at"] is not None
        assert attempt["finished_at"] >= attempt["started_at"]


def test_the_lease_outlasts_the_slowest_send_the_settings_allow() -> None:
    def settings(timeout: float, recipients: int) -> Settings:
        addresses = [f"r{n}@example.com" for n in range(recipients)]
        return load_settings(
            _env_file=None, email_timeout_seconds=timeout, report_recipients=addresses
        )

    # A minute to build, then 8 SMTP steps and one per recipient, each up to the timeout.
    assert lease_for(settings(30, 2), 2) == timedelta(minutes=1) + 10 * timedelta(seconds=30)
    assert lease_for(settings(300, 1), 1) == timedelta(minutes=1) + 9 * timedelta(seconds=300)
    assert lease_for(settings(5, 1), 1) == LEASE  # never shorter than 5 minutes


def test_a_failed_resend_of_a_sent_week_leaves_it_sent(engine: Engine) -> None:
    first = _granted(_claim(engine, _now()))
    assert finish(engine, first, now=_now()) == "sent"
    resend = _granted(_claim(engine, _now(), force=True))
    assert finish(engine, resend, now=_now(), error="SMTP down") == "sent"
    assert week_status(engine, DEFAULT_SITE_NUM, WEEK) == Taken("sent")
    assert _report(engine)["next_attempt_at"] is None
    assert _claim(engine, _now(), trigger="schedule") == Taken("sent")
    assert [a["status"] for a in _attempts(engine)] == ["sent", "failed"]


def test_finishing_a_claim_that_was_taken_over_settles_nothing(engine: Engine) -> None:
    old = _granted(_claim(engine, _now()))
    _set_report(engine, lease_until=_now() - timedelta(seconds=1))
    new = _granted(_claim(engine, _now()))
    assert finish(engine, old, now=_now(), error="late") is None
    assert finish(engine, new, now=_now()) == "sent"
