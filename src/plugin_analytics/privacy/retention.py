"""RETENTION_DAYS: delete events older than that, with their rollups, a UTC day at a time.

Every rollup period (quarter hour, hour, day) lies within one UTC day, so deleting a whole day's
events together with that day's rollup rows, in one transaction, leaves the rollups exactly
equal to the events that remain. The cut falls at the start of a UTC day: an event is deleted
once it is RETENTION_DAYS to RETENTION_DAYS + 1 days old. Ingestion refuses events older than
the cut, so the rollup of a deleted day cannot come back.

The keys (numbers) of users and sessions left without events are deleted too, so their ids
leave the database (see `rollups.hold_ingestion` for why that needs care on PostgreSQL), and
user profiles are folded again from the trait changes that remain.
"""

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, Engine, delete, func, select

from plugin_analytics.db.models import event_table, rollup_delta_table, rollup_table, site_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.derived import profiles
from plugin_analytics.derived.numbering import (
    SESSION_KEY,
    USER_KEY,
    forget_unused_keys,
    hold_ingestion,
)
from plugin_analytics.derived.rollups import compact_all
from plugin_analytics.privacy.audit import record

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)


def retention_cut(days: int, now: datetime | None = None) -> datetime:
    """Events before this time are deleted: the start of the UTC day `days` days ago."""
    return _day_start(oldest_accepted(days, now))


def oldest_accepted(days: int, now: datetime | None = None) -> datetime:
    """The oldest event time ingestion accepts: anything older would be deleted next run."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


def apply_retention(engine: Engine, days: int | None, now: datetime | None = None) -> int:
    """Apply retention to every site: its own retention_days, else `days` (RETENTION_DAYS; None:
    keep forever). Returns the events deleted."""
    with engine.connect() as connection:
        sites = connection.execute(
            select(site_table.c.num, site_table.c.id, site_table.c.retention_days).order_by(
                site_table.c.num
            )
        ).all()
    deleted = 0
    for num, site_id, own in sites:
        site_days: int | None = own or days
        if site_days:
            deleted += apply_site_retention(engine, num, site_id, site_days, now)
    return deleted


def apply_site_retention(
    engine: Engine, site_num: int, site_id: str, days: int, now: datetime | None = None
) -> int:
    """Delete every event of the site before retention_cut(days), a UTC day per transaction,
    then the keys left without events; record what was deleted in the audit log. Returns the
    events deleted."""
    cut = retention_cut(days, now)
    deleted = 0
    users: set[str] = set()
    sessions: set[str] = set()
    while True:
        with write_transaction(engine) as connection:
            day_deleted = _delete_oldest_day(connection, site_num, cut, users, sessions)
        if day_deleted is None:
            break
        deleted += day_deleted
    with write_transaction(engine) as connection:
        forgotten = _forget_keys(connection, site_num, users, sessions)
        rebuilt = profiles.rebuild_older_than(connection, site_num, cut)
        if deleted or any(forgotten) or rebuilt:
            record(
                connection,
                "retention",
                deleted,
                {
                    "site": site_id,
                    "retention_days": days,
                    "before": cut.isoformat(),
                    "events": deleted,
                    "user_keys": forgotten[0],
                    "session_keys": forgotten[1],
                    "profiles_rebuilt": rebuilt,
                },
            )
    if deleted:
        logger.info(
            "retention: deleted %d events of site %s from before %s",
            deleted,
            site_id,
            cut.isoformat(),
        )
    return deleted


def _day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _delete_oldest_day(
    connection: Connection, site_num: int, cut: datetime, users: set[str], sessions: set[str]
) -> int | None:
    """Delete the site's oldest UTC day of events before `cut` and its rollups; None when none
    is left."""
    event = event_table
    oldest = connection.execute(
        select(func.min(event.c.occurred_at)).where(
            event.c.site_num == site_num, event.c.occurred_at < cut
        )
    ).scalar()
    compact_all(connection)  # fold pending deltas, so what is deleted below is in the rows
    if oldest is None:
        # No events left before the cut; drop any rollup rows there (of events erased since).
        _delete_rollups(connection, site_num, cut)
        return None
    day_end = min(cut, _day_start(oldest) + DAY)
    removed = connection.execute(
        delete(event)
        .where(event.c.site_num == site_num, event.c.occurred_at < day_end)
        .returning(event.c.user_id, event.c.session_id)
    ).all()
    _delete_rollups(connection, site_num, day_end)
    users.update(user_id for user_id, _ in removed)
    sessions.update(session_id for _, session_id in removed)
    return len(removed)


def _delete_rollups(connection: Connection, site_num: int, before: datetime) -> None:
    for table in (rollup_table, rollup_delta_table):
        connection.execute(
            delete(table).where(table.c.site_num == site_num, table.c.start_at < before)
        )


def _forget_keys(
    connection: Connection, site_num: int, users: set[str], sessions: set[str]
) -> tuple[int, int]:
    """Delete the keys of these users and sessions of the site that have no events left."""
    hold_ingestion(connection)
    return (
        forget_unused_keys(connection, USER_KEY, site_num, users),
        forget_unused_keys(connection, SESSION_KEY, site_num, sessions),
    )


class RetentionSchedule:
    """Applies RETENTION_DAYS once a day (at 03:17 UTC) and once soon after start.

    Every worker runs it; on PostgreSQL concurrent runs wait for each other's locks and the
    later ones find nothing left to delete."""

    FIRST_RUN_AFTER = timedelta(seconds=30)

    def __init__(self, engine: Engine, days: int | None) -> None:
        self._engine, self._days = engine, days
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.add_job(
            self.run,
            CronTrigger(hour=3, minute=17, timezone=UTC),
            id="retention",
            next_run_time=datetime.now(UTC) + self.FIRST_RUN_AFTER,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=False)

    def run(self) -> None:
        try:
            apply_retention(self._engine, self._days)
        except Exception:  # the next run tries again; the process must go on serving
            logger.exception("retention run failed")
