"""The in-process schedule: each worker runs APScheduler, and the claim in the database makes
sure a week is sent once however many workers (or hosts) fire at the same moment.

Besides the REPORT_SCHEDULE job, a check every minute (and once at start) sends the last
complete week if its scheduled time has passed and it is not sent: that catches up on a week
missed while the service was down (once: only the last week) and retries a failed send after
its backoff."""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, exists, select

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.config import Settings
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.errors import APIError
from plugin_analytics.modules.registry import Modules
from plugin_analytics.reports.claims import week_status
from plugin_analytics.reports.cron import cron_trigger
from plugin_analytics.reports.service import report_week, send_weekly_report

logger = logging.getLogger(__name__)

CHECK_INTERVAL = timedelta(minutes=1)


class ReportSchedule:
    def __init__(self, engine: Engine, settings: Settings, modules: Modules) -> None:
        self._engine, self._settings, self._modules = engine, settings, modules
        self._tz = ZoneInfo(settings.report_timezone)
        self._trigger = cron_trigger(settings.report_schedule, self._tz)
        self._scheduler = BackgroundScheduler(timezone=self._tz)

    def start(self) -> None:
        jobs = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self._scheduler.add_job(self.send_now, self._trigger, id="weekly-report", **jobs)
        self._scheduler.add_job(
            self.send_if_due,
            IntervalTrigger(seconds=CHECK_INTERVAL.total_seconds(), timezone=self._tz),
            id="weekly-report-check",
            next_run_time=datetime.now(self._tz),
            **jobs,
        )
        self._scheduler.start()

    def stop(self) -> None:
        # A send in flight keeps its lease; if this process ends first, the lease expires.
        self._scheduler.shutdown(wait=False)

    def send_now(self) -> None:
        """REPORT_SCHEDULE fired: send the last complete week (unless sent or being sent)."""
        self._send(check_due=False)

    def send_if_due(self) -> None:
        """The minutely check: send only a week whose scheduled time has passed (is_due)."""
        self._send(check_due=True)

    def _send(self, *, check_due: bool) -> None:
        now = datetime.now(UTC)
        week = report_week(self._settings, now)
        try:
            if self._is_due(week, now) if check_due else self._had_events(week):
                send_weekly_report(
                    self._engine,
                    self._settings,
                    modules=self._modules,
                    trigger="schedule",
                    wait=False,
                    now=now,
                )
        except APIError as exc:
            logger.warning("scheduled weekly report: %s", exc.detail)
        except Exception:
            logger.exception("scheduled weekly report failed")

    def is_due(self, now: datetime) -> bool:
        """The last complete week's scheduled time has passed, it is not sent, and the site had
        events before it ended."""
        return self._is_due(report_week(self._settings, now), now)

    def _is_due(self, week: DateRange, now: datetime) -> bool:
        week_end = from_epoch_us(week.end_us).astimezone(self._tz)
        scheduled = self._trigger.get_next_fire_time(None, week_end)
        if scheduled is None or scheduled > now:
            return False
        status = week_status(self._engine, week.start_date)
        if status is not None and status.status == "sent":
            return False
        return self._had_events(week)

    def _had_events(self, week: DateRange) -> bool:
        """Whether any event happened before `week` ended: a new installation gets no report
        of the week before it was set up."""
        with self._engine.connect() as connection:
            return bool(
                connection.execute(
                    select(exists().where(event_table.c.occurred_at < from_epoch_us(week.end_us)))
                ).scalar()
            )
