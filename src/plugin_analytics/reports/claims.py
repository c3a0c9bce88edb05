"""Sending each site's week once across workers and hosts: a sender claims the week's row (its
primary key is the site and the week) and holds a lease; others see it sending or sent. A
crashed sender's lease expires and the week can be claimed again; a failed send waits out a
backoff before the schedule retries it (a person asking again need not wait)."""

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from plugin_analytics.db.models import report_attempt_table, report_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.db.upsert import insert_or_skip

LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)

Trigger = Literal["manual", "schedule", "cli"]
# A site's week: (site_num, its Monday).
Week = tuple[int, date]


@dataclass(frozen=True)
class Claim:
    site_num: int
    week_start: date
    token: str
    attempt_id: int


@dataclass(frozen=True)
class Taken:
    """Why the week could not be claimed: `sent`, `sending` (someone's lease holds), `backoff`."""

    status: Literal["sent", "sending", "backoff"]
    error: str | None = None


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after each failure, at most an hour."""
    doublings = min(max(attempts - 1, 0), 6)  # 2**6 minutes is past the cap already
    return min(FIRST_RETRY * (1 << doublings), LAST_RETRY)


def claim_week(
    engine: Engine,
    site_num: int,
    week_start: date,
    *,
    now: datetime,
    trigger: Trigger,
    recipients: list[str],
    force: bool = False,
    lease: timedelta = LEASE,
) -> Claim | Taken:
    """Claim the site's `week_start` for sending for `lease`, or say why not (one transaction:
    exactly one winner)."""
    token = secrets.token_hex(16)
    week = (site_num, week_start)
    with write_transaction(engine) as connection:
        if not _insert_claim(connection, week, token, now + lease):
            claimable = [
                and_(report_table.c.status == "sending", report_table.c.lease_until < now),
            ]
            if force:
                claimable.append(report_table.c.status != "sending")
            else:
                failed = report_table.c.status == "failed"
                due = report_table.c.next_attempt_at <= now
                claimable.append(failed if trigger != "schedule" else and_(failed, due))
            taken = connection.execute(
                update(report_table)
                .where(*_of(report_table, week), or_(*claimable))
                .values(
                    status="sending",
                    claim_token=token,
                    lease_until=now + lease,
                    attempts=report_table.c.attempts + 1,
                )
            )
            if taken.rowcount != 1:
                held = _status(connection, week)
                assert held is not None  # the INSERT found the row
                return held
            _close_abandoned_attempts(connection, week, now)
        attempt_id = connection.execute(
            insert(report_attempt_table)
            .values(
                site_num=site_num,
                week_start=week_start,
                trigger=trigger,
                forced=force,
                status="sending",
                recipients=recipients,
                started_at=now,
            )
            .returning(report_attempt_table.c.id)
        ).scalar_one()
    return Claim(site_num, week_start, token, attempt_id)


def _of(table: Any, week: Week) -> tuple[Any, Any]:
    """The where-clause of one site's week in `table`."""
    return table.c.site_num == week[0], table.c.week_start == week[1]


def _close_abandoned_attempts(connection: Connection, week: Week, now: datetime) -> None:
    """The week is ours now: an attempt still `sending` belonged to a sender whose lease ran out
    (it died, or took too long); its history entry says so."""
    connection.execute(
        update(report_attempt_table)
        .where(*_of(report_attempt_table, week), report_attempt_table.c.status == "sending")
        .values(
            status="failed",
            finished_at=now,
            error="the sender stopped before it finished (its claim expired)",
        )
    )


def _insert_claim(connection: Connection, week: Week, token: str, lease_until: datetime) -> bool:
    inserted = connection.execute(
        insert_or_skip(connection, report_table)
        .values(
            site_num=week[0],
            week_start=week[1],
            status="sending",
            claim_token=token,
            lease_until=lease_until,
            attempts=1,
        )
        .on_conflict_do_nothing()
        .returning(report_table.c.week_start)  # rowcount of an INSERT is not always reported
    )
    return inserted.first() is not None


def _last_error(connection: Connection, week: Week) -> str | None:
    attempt = report_attempt_table
    return connection.execute(
        select(attempt.c.error)
        .where(*_of(attempt, week), attempt.c.status == "failed")
        .order_by(attempt.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def week_status(engine: Engine, site_num: int, week_start: date) -> Taken | None:
    """Where the site's week stands now (None: never tried)."""
    with engine.connect() as connection:
        return _status(connection, (site_num, week_start))


def _status(connection: Connection, week: Week) -> Taken | None:
    status = connection.execute(
        select(report_table.c.status).where(*_of(report_table, week))
    ).scalar_one_or_none()
    if status is None:
        return None
    if status == "failed":
        return Taken("backoff", _last_error(connection, week))
    return Taken(status)


def finish(
    engine: Engine,
    claim: Claim,
    *,
    now: datetime,
    error: str | None = None,
    note: str | None = None,
) -> str | None:
    """Record the outcome: sent (error None; `note` says which recipients the server refused)
    or failed, with the time the schedule may retry. A failed resend of a week that was sent
    leaves it sent. Returns the week's new status (None: the claim was taken over)."""
    with write_transaction(engine) as connection:
        mine = and_(
            *_of(report_table, (claim.site_num, claim.week_start)),
            report_table.c.claim_token == claim.token,
        )
        if error is None:
            values: dict[str, object] = {"status": "sent", "sent_at": now, "next_attempt_at": None}
        else:
            row = connection.execute(
                select(report_table.c.attempts, report_table.c.sent_at).where(mine)
            ).first()
            if row is not None and row.sent_at is not None:
                values = {"status": "sent"}  # a failed resend: the week went out before
            else:
                attempts = row.attempts if row is not None else 1
                values = {"status": "failed", "next_attempt_at": now + backoff(attempts)}
        # A claim that outlived its lease and was taken over is no longer ours to settle.
        settled = connection.execute(update(report_table).where(mine).values(**values)).rowcount
        connection.execute(
            update(report_attempt_table)
            .where(report_attempt_table.c.id == claim.attempt_id)
            .values(status="failed" if error else "sent", finished_at=now, error=error or note)
        )
    return str(values["status"]) if settled else None
